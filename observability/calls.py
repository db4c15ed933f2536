"""Which figures of one finished LLM call go on its LangFuse observation, and under which labels.

Pure functions over a ``CallRecord`` and the run metadata; ``observability.handler`` puts them on the
trace. The metadata is the record's ``trace_metadata`` (every field not marked ``trace=False`` in
``metrics/records.py``), so a field added to the record reaches the trace without an edit here.
"""

from dataclasses import fields, replace

from metrics.correctness import answers_the_question, is_correct
from metrics.records import CallRecord, trace_metadata

# Numeric scores put on the observation and on its trace; ``correct`` only where the question has an expected answer.
CALL_SCORES = ["ttft_ms", "hit_rate", "correct"]
_FIELDS = {f.name for f in fields(CallRecord)}


def as_record(call) -> CallRecord | None:
    """A call a node returned as a ``CallRecord`` (a dict with its fields is taken too), else None."""
    if isinstance(call, CallRecord):
        return call
    if isinstance(call, dict):
        return CallRecord(**{k: v for k, v in call.items() if k in _FIELDS})
    return None


def recorded_calls(outputs) -> list[CallRecord]:
    """The call records a graph node returned: the ``calls`` it adds to the state, else none."""
    calls = outputs.get("calls") if isinstance(outputs, dict) else None
    if not isinstance(calls, list):
        return []
    return [r for r in map(as_record, calls) if r is not None]


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


def scored(record: CallRecord, metadata: dict | None) -> CallRecord:
    """The record with its question's expected answer (run metadata ``expected``, per question like
    ``variants``) and its correctness, as the executor scores it for results.csv; as it was without one."""
    expected = (metadata or {}).get("expected")
    qid = record.question_id
    if not isinstance(expected, list) or not isinstance(qid, int) or not 0 <= qid < len(expected):
        return record
    if not expected[qid] or not answers_the_question(record.node):
        return record
    return replace(record, expected=str(expected[qid]), correct=is_correct(record.answer, str(expected[qid])))


def call_metadata(record: CallRecord, metadata: dict | None) -> dict:
    """The observation metadata of one call: its trace figures, labelled with scenario and variant
    from the run metadata (inside the graph the record does not carry them yet)."""
    return trace_metadata(record) | call_labels(metadata, record.question_id)


def call_scores(record: CallRecord) -> dict[str, float]:
    """The numeric scores of one call; a figure the call could not measure is left out."""
    return {name: float(getattr(record, name)) for name in CALL_SCORES if getattr(record, name) is not None}
