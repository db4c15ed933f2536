"""Put one finished LLM call's figures on the LangFuse observation of the node that records it.

``get_client().update_current_span()`` relies on the OpenTelemetry context of the calling thread or
task. In async runs (``ainvoke``, ``astream``, ``langgraph dev``) the callback handler opens each
node's span in another context, so that call finds no span (langfuse issue #8010). Here the
observation is looked up instead by the node's run id, which LangChain hands every node in its
config (``config["callbacks"].parent_run_id``), in the handler that opened it. That works the same
in sync and async runs, and needs no context at all.
"""

import logging

from langchain_core.runnables import RunnableConfig

from metrics.records import CallRecord, trace_metadata

log = logging.getLogger(__name__)

# Numeric scores put on the observation and on its trace.
CALL_SCORES = ["ttft_ms", "hit_rate"]


def node_observation(config: RunnableConfig | None):
    """The LangFuse observation of the node running with ``config``, or None when untraced."""
    callbacks = (config or {}).get("callbacks")
    run_id = getattr(callbacks, "parent_run_id", None)
    if run_id is None:
        return None
    for handler in getattr(callbacks, "handlers", []):
        runs = getattr(handler, "_runs", None)  # LangFuse's CallbackHandler: run id -> open observation
        if isinstance(runs, dict) and run_id in runs:
            return runs[run_id]
    return None


def call_labels(config: RunnableConfig | None, question_id: int | None) -> dict:
    """Scenario and variant of a call, from the run metadata (``variants`` per question, or one
    ``variant``); empty when the run carries none, e.g. a graph run from Studio."""
    meta = (config or {}).get("metadata") or {}
    variants = meta.get("variants")
    if isinstance(variants, list) and isinstance(question_id, int) and 0 <= question_id < len(variants):
        variant = variants[question_id]
    else:
        variant = meta.get("variant", "")
    return {"scenario": str(meta.get("scenario") or ""), "variant": str(variant or "")}


def annotate_call(config: RunnableConfig | None, record: CallRecord) -> None:
    """The record's ``trace_metadata`` + scenario + variant on the node's observation; scores
    ``CALL_SCORES`` on it and on the trace. Does nothing untraced; never fails the run."""
    observation = node_observation(config)
    if observation is None:
        return
    try:
        figures = trace_metadata(record) | call_labels(config, record.question_id)
        observation.update(metadata=figures)
        for name in CALL_SCORES:
            value = getattr(record, name)
            if value is not None:
                observation.score(name=name, value=float(value), data_type="NUMERIC")
                observation.score_trace(name=name, value=float(value), data_type="NUMERIC")
    except Exception as err:  # tracing must never cost a measurement
        log.warning("could not annotate the LangFuse observation: %s", err)
