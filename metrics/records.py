"""The per-call record: what one LLM call cost and where its cached tokens came from."""

# Column order of results.csv; scenario columns come first, then these.
CALL_FIELDS = [
    "question_id", "layout", "started_at", "ttft_ms", "total_ms", "prompt_tokens", "static_prefix_tokens", "cached_tokens",
    "device_hit_tokens", "lmcache_hit_tokens", "lmcache_l1_hit_tokens", "lmcache_l2_hit_tokens", "hit_rate", "device_hit_rate", "lmcache_hit_rate",
    "completion_tokens", "shared_prefix_tokens", "predicted_cached_tokens", "first_difference", "cache_note",
    "question", "answer", "answer_logprobs",
]  # fmt: skip


def _rate(part: float | None, whole: float) -> float | None:
    return round(part / whole, 4) if part is not None and whole else None


def call_record(pending: dict, hits: dict | None, *, layout: str, static_prefix_tokens: int) -> dict:
    """Merge a call's timings and usage with its metric deltas. ``hits`` is None when the server
    exposes no /metrics: the source split is then unknown (empty), never guessed."""
    prompt = pending["prompt_tokens"]
    device = hits["device_hit_tokens"] if hits else None
    lmcache = hits["lmcache_hit_tokens"] if hits else None
    record = {
        **pending,
        "layout": layout,
        "static_prefix_tokens": static_prefix_tokens,
        "device_hit_tokens": device,
        "lmcache_hit_tokens": lmcache,
        "lmcache_l1_hit_tokens": hits.get("lmcache_l1_hit_tokens") if hits else None,
        "lmcache_l2_hit_tokens": hits.get("lmcache_l2_hit_tokens") if hits else None,
        "hit_rate": _rate(pending["cached_tokens"], prompt),
        "device_hit_rate": _rate(device, prompt),
        "lmcache_hit_rate": _rate(lmcache, prompt),
    }
    return {k: record.get(k) for k in CALL_FIELDS}
