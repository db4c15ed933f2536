"""Node: attribute the call's cached tokens to their source from /metrics deltas."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from clients.vllm import scrape_metrics
from graphs.context import Context
from graphs.state import State
from lab.errors import ServerGone
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import call_record
from prompts.prefix_analysis import prediction_note


def lmcache_counters(ctx: Context) -> dict | None:
    """The LMCache server's counters; None when no LMCache URL is configured.

    A configured LMCache server that does not answer has stopped: vLLM then serves without it, and
    the run stops (``ServerGone``) rather than record calls whose cache figures it cannot check."""
    if not ctx.lmcache_metrics_url:
        return None
    text = scrape_metrics(ctx.lmcache_metrics_url)
    if text is None:
        raise ServerGone(f"the LMCache server at {ctx.lmcache_metrics_url} stopped answering")
    return parse_counters(text)


def counters_snapshot(ctx: Context) -> dict | None:
    """vLLM's counters, plus the LMCache server's when its URL is configured; None without /metrics."""
    text = scrape_metrics(ctx.endpoint, ctx.api_key)
    if text is None:
        return None
    return {"vllm": parse_counters(text), "lmcache": lmcache_counters(ctx)}


def collect_cache_stats(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``pending``, ``metrics_before`` and ``prediction``; appends one record to ``calls`` (flagging
    a prediction more than one chunk off) and moves to the next question."""
    ctx = runtime.context or Context()
    hits = None
    after = counters_snapshot(ctx) if state.metrics_before is not None else None
    if after is not None:
        before = state.metrics_before
        server = None
        if before.get("lmcache") is not None and after["lmcache"] is not None:
            server = delta(before["lmcache"], after["lmcache"])
        hits = hit_tokens(delta(before["vllm"], after["vllm"]), server)
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
