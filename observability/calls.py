"""Which figures of one finished LLM call go on its LangFuse observation, and under which labels.

Pure functions over a call record (a dict, or a dataclass once the record is typed) and the run
metadata; ``observability.handler`` puts them on the trace.
"""

import dataclasses

# The call record's fields that go into the observation's metadata, besides scenario and variant.
CALL_METADATA = [
    "ttft_ms", "prompt_tokens", "cached_tokens", "device_hit_tokens", "lmcache_hit_tokens", "hit_rate", "layout",
]  # fmt: skip
# Numeric scores put on the observation and on its trace.
CALL_SCORES = ["ttft_ms", "hit_rate"]


def as_dict(record) -> dict:
    """A call record as a dict, whether it is one already or a dataclass."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return dict(record)


def recorded_calls(outputs) -> list[dict]:
    """The call records a graph node returned: the ``calls`` it adds to the state, else none."""
    calls = outputs.get("calls") if isinstance(outputs, dict) else None
    return [as_dict(c) for c in calls] if isinstance(calls, list) else []


def call_labels(metadata: dict | None, question_id: int | None) -> dict:
    """Scenario and variant of a call, from the run metadata (``variants`` per question, or one
    ``variant``); empty when the run carries none, e.g. a graph run from Studio."""
    meta = metadata or {}
    variants = meta.get("variants")
    if isinstance(variants, list) and isinstance(question_id, int) and 0 <= question_id < len(variants):
        variant = variants[question_id]
    else:
        variant = meta.get("variant", "")
    return {"scenario": str(meta.get("scenario") or ""), "variant": str(variant or "")}


def call_metadata(record: dict, metadata: dict | None) -> dict:
    """The observation metadata of one call: ``CALL_METADATA`` plus scenario and variant."""
    return {k: record.get(k) for k in CALL_METADATA} | call_labels(metadata, record.get("question_id"))


def call_scores(record: dict) -> dict[str, float]:
    """The numeric scores of one call; a figure the call could not measure is left out."""
    return {name: float(record[name]) for name in CALL_SCORES if record.get(name) is not None}
