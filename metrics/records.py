"""The per-call record: what one LLM call cost and where its cached tokens came from.

``CallRecord`` is the one typed record every client path returns (graph node, bare client,
suffix-only, ...). Everything downstream is derived from its fields, so adding a figure is one
edit here: the ``results.csv`` columns (field order), the per-variant summary (``SUMMARY`` metadata)
and the trace metadata (``TRACE`` metadata).
"""

from dataclasses import asdict, dataclass, field, fields, replace

# Field metadata keys. SUMMARY: how summary.json aggregates the field per variant ("median",
# "mean"), or absent. TRACE: False keeps a field (long text) out of the LangFuse metadata.
SUMMARY, TRACE = "summary", "trace"


def _col(default=None, *, summary: str | None = None, trace: bool = True):
    meta = {TRACE: trace} | ({SUMMARY: summary} if summary else {})
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """One LLM call. Run labels first (the executor fills them), then the call's own figures.
    ``None`` means unknown (e.g. no /metrics to split hits by source): empty in results.csv, never guessed."""

    # Where the call belongs: filled by the executor from the plan.
    run_id: str = _col("", trace=False)  # the trace's session says it
    scenario: str = _col("")
    variant: str = _col("")
    repeat: int | None = _col(trace=False)
    session: str = _col("", trace=False)
    # Which question, node and part of the set-up made the call.
    question_id: int = _col(0)
    node: str = _col("")  # the graph node that made the call (qa graph: generate)
    turn: int | None = _col()  # conversation turn, where a scenario has turns
    instance: str = _col("")  # the serving instance that answered, where known
    # The server's name for itself on the stream's last chunk (its system_fingerprint): the lab's vLLM
    # instances stamp their own name (vllm, vllm-1, ...), so behind a router it names the one that
    # answered, under concurrency too. "" where the streamer does not see it (langchain-openai drops it).
    served_by: str = _col("")
    tier: str = _col("")  # the cache tier a scenario set up for the call, where it sets one
    layout: str = _col("")
    manual_tokens: int | None = _col(summary="median")  # the manual alone, as the model sees it
    # Timings.
    started_at: float | None = _col()
    response_id: str = _col("", trace=False)  # the server's id for the call (chatcmpl-...), as LMCache's log names it
    ttft_ms: float = _col(0.0)
    total_ms: float = _col(0.0)
    # Tokens and where the cached ones came from.
    prompt_tokens: int = _col(0, summary="median")
    static_prefix_tokens: int | None = _col(summary="median")
    cached_tokens: int = _col(0, summary="median")
    device_hit_tokens: int | None = _col(summary="median")
    lmcache_hit_tokens: int | None = _col(summary="median")
    lmcache_l1_hit_tokens: int | None = _col(summary="median")
    lmcache_l2_hit_tokens: int | None = _col(summary="median")
    hit_source: str = _col("")  # where a fleet call's cached tokens came from, as measured (metrics.attribution)
    hit_rate: float | None = _col()
    device_hit_rate: float | None = _col(summary="mean")
    lmcache_hit_rate: float | None = _col(summary="mean")
    completion_tokens: int = _col(0)
    uncached_tokens: int | None = _col(summary="median")  # prompt tokens the server computed: prompt - cached
    # The tokens this prompt adds after the longest prefix it shares with the session's earlier prompts
    # (a tool loop's turn: its new call and tool result); from the tokenizer's prediction.
    new_tokens: int | None = _col(summary="median")
    # The tokenizer's prediction before the call, and where it was off.
    shared_prefix_tokens: int | None = _col(summary="median")
    predicted_cached_tokens: int | None = _col(summary="median")
    first_difference: str = _col("", trace=False)
    cache_note: str = _col("")
    error: str = _col("")  # a call that failed but did not stop the run (a fleet instance lost mid-call)
    # How an agent node's reply was asked for (json_schema, free_text; "" for prose), and what the
    # node fell back to when it did not parse or the schema was refused ("" when nothing).
    reply_format: str = _col("")
    fallback: str = _col("")
    tool_call: str = _col("")  # the tool call a tool-loop turn's reply led to, e.g. find_section('assert')
    # A multi-tenant load's labels (fleet_load): the tenant (manual) the session asks about, and the
    # sessions at once in the call's load step.
    tenant: str = _col("")
    load_step: int | None = _col()
    # The working set a scenario keeps in rotation (capacity): its size, the pass, the visiting order,
    # the tokens a cache can serve per visit, and LMCache's own usage and eviction counters after the call.
    working_set_manuals: int | None = _col()
    working_set_tokens: int | None = _col()
    rotation_pass: int | None = _col()  # 0: the pass that fills the caches
    access_pattern: str = _col("")
    reusable_tokens: int | None = _col()
    lmcache_l1_usage_bytes: int | None = _col()
    lmcache_l2_usage_bytes: int | None = _col()
    lmcache_l1_evicted_chunks: int | None = _col()  # the server's running total
    lmcache_l2_evicted_chunks: int | None = _col()
    # The exchange itself.
    question: str = _col("")
    answer: str = _col("", trace=False)
    answer_logprobs: str = _col("", trace=False)
    # The user's expected answer, where their question has one, and whether the answer matches it
    # (metrics.correctness: 1 or 0; None without an expectation); the executor fills both.
    expected: str = _col("")
    correct: int | None = _col(summary="mean")

    def with_hits(self, hits: dict | None) -> "CallRecord":
        """This record with its hits by source (from /metrics deltas) and the rates they give.
        ``hits`` None: the server exposes no /metrics, so the split stays unknown."""
        h = hits or {}
        device, lmcache = h.get("device_hit_tokens"), h.get("lmcache_hit_tokens")
        return replace(
            self,
            device_hit_tokens=device,
            lmcache_hit_tokens=lmcache,
            lmcache_l1_hit_tokens=h.get("lmcache_l1_hit_tokens"),
            lmcache_l2_hit_tokens=h.get("lmcache_l2_hit_tokens"),
            uncached_tokens=self.prompt_tokens - self.cached_tokens if self.prompt_tokens else None,
            hit_rate=_rate(self.cached_tokens, self.prompt_tokens),
            device_hit_rate=_rate(device, self.prompt_tokens),
            lmcache_hit_rate=_rate(lmcache, self.prompt_tokens),
        )

    def row(self) -> dict:
        """The record as a results.csv row."""
        return asdict(self)


def _rate(part: float | None, whole: float) -> float | None:
    return round(part / whole, 4) if part is not None and whole else None


def columns(record_type: type = CallRecord) -> list[str]:
    """results.csv columns, in order."""
    return [f.name for f in fields(record_type)]


def summary_fields(record_type: type = CallRecord) -> dict[str, str]:
    """Field -> aggregation ("median" or "mean") for the per-variant summary."""
    return {f.name: f.metadata[SUMMARY] for f in fields(record_type) if SUMMARY in f.metadata}


def trace_metadata(record: CallRecord) -> dict:
    """The record's figures for the LangFuse observation of the call (long texts left out)."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.metadata.get(TRACE, True)}
