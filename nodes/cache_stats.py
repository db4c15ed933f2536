"""Node: attribute the call's cached tokens to their source from vLLM's /metrics deltas."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from clients.vllm import scrape_metrics
from graphs.context import Context
from graphs.state import State
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import call_record
from observability.calls import annotate_call


def collect_cache_stats(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``pending`` and ``metrics_before``; appends one record to ``calls`` and moves to the next question.
    When the run is traced, the record's figures also go on this node's LangFuse observation."""
    ctx = runtime.context or Context()
    hits = None
    text = scrape_metrics(ctx.endpoint, ctx.api_key) if state.metrics_before is not None else None
    if text is not None:
        hits = hit_tokens(delta(state.metrics_before, parse_counters(text)))
    record = call_record(state.pending, hits, layout=ctx.layout, static_prefix_tokens=state.static_prefix_tokens)
    annotate_call(config, record)
    return {"calls": [record], "pending": None, "metrics_before": None, "question_index": state.question_index + 1}
