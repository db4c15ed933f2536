"""Which instance of a fleet served a call, and where its cached tokens came from, from /metrics.

Behind a router the client does not choose the instance. With calls made one at a time, the one
instance whose ``vllm:prompt_tokens_total`` moved between the snapshots before and after a call
served it: exact. With calls in flight at once, or no /metrics, the answer is unknown, and is
said so (``UNKNOWN``) rather than guessed.

The source of the hit follows what was measured: LMCache L1 tokens are the serving instance's own
memory (``own``), or the one LMCache server every instance shares (``shared_server``, node
sharing); LMCache L2 tokens are Redis in redis sharing and the instance's disk otherwise; vLLM's
own prefix cache is ``vllm``; nothing cached is ``none``.
"""

from metrics.prometheus import delta

PROMPT_TOKENS = "vllm:prompt_tokens_total"
UNKNOWN = "unknown"


def serving_instance(before: list[dict | None], after: list[dict | None], names: list[str]) -> str:
    """The name of the one instance whose prompt-token counter moved between ``before`` and ``after``
    (per-instance counter snapshots, None where an instance did not answer); ``UNKNOWN`` when none
    or several moved, or a snapshot is missing for an instance that may have served it."""
    moved = [
        name
        for name, b, a in zip(names, before, after, strict=True)
        if b is not None and a is not None and delta(b, a).get(PROMPT_TOKENS, 0) > 0
    ]
    # None moved: the instance that did not answer may have been the one; several: calls overlapped.
    return moved[0] if len(moved) == 1 else UNKNOWN


def hit_source(sharing: str, device: int | None, l1: int | None, l2: int | None) -> str:
    """Where a call's cached tokens came from, by the measured tier counts (the largest wins)."""
    if device is None and l1 is None and l2 is None:
        return UNKNOWN
    counts = {
        "vllm": device or 0,
        "shared_server" if sharing == "node" else "own": l1 or 0,
        "redis" if sharing == "redis" else "disk": l2 or 0,
    }
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > 0 else "none"
