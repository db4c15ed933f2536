"""Node: attribute the call's cached tokens to their source from vLLM's /metrics deltas."""

from langgraph.runtime import Runtime

from clients.vllm import scrape_metrics
from graphs.context import Context
from graphs.state import State
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import call_record
from prompts.prefix_analysis import prediction_note


def collect_cache_stats(state: State, runtime: Runtime[Context]) -> dict:
    """Reads ``pending``, ``metrics_before`` and ``prediction``; appends one record to ``calls`` (flagging
    a prediction more than one chunk off) and moves to the next question."""
    ctx = runtime.context or Context()
    hits = None
    text = scrape_metrics(ctx.endpoint, ctx.api_key) if state.metrics_before is not None else None
    if text is not None:
        hits = hit_tokens(delta(state.metrics_before, parse_counters(text)))
    pending = dict(state.pending)
    if state.prediction:
        p = state.prediction
        note = prediction_note(p["predicted_cached_tokens"], pending["cached_tokens"], ctx.chunk_size,
                               p["prompt_tokens_predicted"], pending["prompt_tokens"])  # fmt: skip
        pending |= {k: p[k] for k in ("shared_prefix_tokens", "predicted_cached_tokens", "first_difference")}
        pending["cache_note"] = note
    record = call_record(pending, hits, layout=ctx.layout, static_prefix_tokens=state.static_prefix_tokens)
    done = {"pending": None, "metrics_before": None, "prediction": None}
    return {"calls": [record], **done, "question_index": state.question_index + 1}
