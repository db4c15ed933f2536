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

log = logging.getLogger(__name__)

# The call record's fields that go into the observation's metadata, besides scenario and variant.
CALL_METADATA = [
    "ttft_ms", "prompt_tokens", "cached_tokens", "device_hit_tokens", "lmcache_hit_tokens", "hit_rate", "layout",
]  # fmt: skip
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


def annotate_call(config: RunnableConfig | None, record: dict) -> None:
    """Metadata ``CALL_METADATA`` + scenario + variant on the node's observation; scores
    ``CALL_SCORES`` on it and on the trace. Does nothing untraced; never fails the run."""
    observation = node_observation(config)
    if observation is None:
        return
    try:
        figures = {k: record.get(k) for k in CALL_METADATA} | call_labels(config, record.get("question_id"))
        observation.update(metadata=figures)
        for name in CALL_SCORES:
            value = record.get(name)
            if value is not None:
                observation.score(name=name, value=float(value), data_type="NUMERIC")
                observation.score_trace(name=name, value=float(value), data_type="NUMERIC")
    except Exception as err:  # tracing must never cost a measurement
        log.warning("could not annotate the LangFuse observation: %s", err)
