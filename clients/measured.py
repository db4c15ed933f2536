"""One measured LLM call, in the pieces every LLM-calling node shares.

- ``predict``: the prompt's token ids as the server renders them, and how many of them the cache
  should serve (the longest prefix shared with the session's earlier prompts, chunk-aligned);
- ``counters_snapshot`` before and after the call, and ``hits_between`` them: where the cached
  tokens came from (vLLM's own cache, LMCache, and LMCache's L1/L2 tiers);
- ``stream_timed``: the streamed ``ChatOpenAI`` call, timed to its first content token;
- ``watched``: a call that stops within seconds when the LMCache server dies under it;
- ``measured_call``: all of them in order, returning a ``CallRecord`` (for nodes that make their
  call in one step; the qa graph spreads the same pieces over three nodes so Studio shows them).
"""

import contextvars
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import openai
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI

from clients.vllm import detokenize, scrape_metrics, tokenize_chat
from graphs.context import Context
from lab.errors import ServerGone, UserError
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import CallRecord
from prompts.prefix_analysis import cacheable_tokens, difference_snippet, longest_shared, prediction_note

# How often a call in flight checks that the LMCache server still answers. A call caught by the
# server's death would otherwise hang until vLLM's engine gives up on it (5 min).
LMCACHE_WATCH_S = 5.0


def predict(ctx: Context, messages: list[dict], earlier: list[list[int]]) -> tuple[dict, list[int]]:
    """(prediction, this prompt's token ids). The server's own rendering (chat template +
    tokenizer), so the prediction sees what the cache sees."""
    ids = tokenize_chat(ctx.endpoint, ctx.model, messages, add_generation_prompt=True, api_key=ctx.api_key)
    shared, closest = longest_shared(ids, earlier)
    where = ""
    if closest is not None and shared < len(ids):
        where = difference_snippet(lambda t: detokenize(ctx.endpoint, ctx.model, t, ctx.api_key), ids, shared)
    prediction = {
        "prompt_tokens_predicted": len(ids),
        "shared_prefix_tokens": shared,
        "predicted_cached_tokens": cacheable_tokens(shared, len(ids), ctx.chunk_size),
        "first_difference": where,
    }
    return prediction, ids


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


def counters_before(ctx: Context) -> dict | None:
    """The snapshot a call's hits are measured from; None when per-call figures are off (under
    load deltas would mix calls), though a dead LMCache server still stops the run."""
    if ctx.metrics_per_call:
        return counters_snapshot(ctx)
    lmcache_counters(ctx)
    return None


def hits_between(ctx: Context, before: dict | None) -> dict | None:
    """Hits by source since ``before`` (None: unknown, never guessed)."""
    after = counters_snapshot(ctx) if before is not None else None
    if after is None:
        return None
    server = None
    if before.get("lmcache") is not None and after["lmcache"] is not None:
        server = delta(before["lmcache"], after["lmcache"])
    return hit_tokens(delta(before["vllm"], after["vllm"]), server)


def chat_model(ctx: Context) -> ChatOpenAI:
    # streaming + stream_usage: the final chunk carries usage (cached tokens included), and LangFuse
    # derives TTFT from the first streamed chunk.
    return ChatOpenAI(
        base_url=ctx.endpoint,
        api_key=ctx.api_key or "EMPTY",
        model=ctx.model,
        temperature=ctx.temperature,
        max_tokens=ctx.max_tokens,
        streaming=True,
        stream_usage=True,
        timeout=ctx.request_timeout_s,
        max_retries=0,
        **({"logprobs": True, "top_logprobs": 2} if ctx.logprobs else {}),
    )


def stream_timed(llm: ChatOpenAI, messages: list[dict], config: RunnableConfig | None = None) -> dict:
    """Stream one call. TTFT runs from sending the request to the first chunk with content, as in
    vLLM's own benchmarks; usage comes from the final chunk. Returns CallRecord fields."""
    started_at = time.time()
    start = time.perf_counter()
    first = None
    message = None
    for chunk in llm.stream(messages, config=config):
        if first is None and chunk.content:
            first = time.perf_counter()
        message = chunk if message is None else message + chunk
    end = time.perf_counter()
    usage = (message.usage_metadata if message is not None else None) or {}
    return {
        "started_at": round(started_at, 3),
        "ttft_ms": round(((first or end) - start) * 1000, 2),
        "total_ms": round((end - start) * 1000, 2),
        "prompt_tokens": usage.get("input_tokens", 0),
        "completion_tokens": usage.get("output_tokens", 0),
        "cached_tokens": (usage.get("input_token_details") or {}).get("cache_read", 0),
        "answer": message.content if message is not None else "",
        "answer_logprobs": _compact_logprobs(message.response_metadata.get("logprobs") if message is not None else None),
    }


def _compact_logprobs(logprobs: dict | None) -> str:
    """JSON list of [token, logprob, runner-up token, runner-up logprob]; empty when not requested."""
    if not logprobs or not logprobs.get("content"):
        return ""
    rows = []
    for t in logprobs["content"]:
        second = (t.get("top_logprobs") or [{}, {}])[1:2] or [{}]
        rows.append([t["token"], round(t["logprob"], 5), second[0].get("token"), round(second[0].get("logprob", float("nan")), 5)])
    return json.dumps(rows)


def watched(ctx: Context, call: Callable[[], dict], every_s: float = LMCACHE_WATCH_S) -> dict:
    """``call()``, while the LMCache server is checked every ``every_s``: once it stops answering,
    ``ServerGone`` stops the run within seconds, instead of after vLLM's engine gives up (5 min).

    The call runs in a daemon thread (with this thread's context, so tracing and LangGraph's
    callbacks see their parent run); a call left behind ends with the process or with the stack.
    Without an LMCache URL there is nothing to watch and the call runs here."""
    if not ctx.lmcache_metrics_url:
        return call()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as err:  # handed to the caller's thread, raised there
            outcome["error"] = err

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="llm-call", daemon=True)
    worker.start()
    worker.join(every_s)
    while worker.is_alive():
        lmcache_counters(ctx)  # raises ServerGone
        worker.join(every_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def stream_call(ctx: Context, messages: list[dict], config: RunnableConfig | None = None) -> dict:
    """``stream_timed`` with the model built from ``ctx``, ``watched``, and a failed call put down
    to its cause."""
    try:
        return watched(ctx, lambda: stream_timed(chat_model(ctx), messages, config))
    except openai.APIError as err:
        # A call that fails while the LMCache server is dead (a 500 or a broken stream): put that
        # down to LMCache, which is the cause.
        lmcache_counters(ctx)
        if isinstance(err, openai.APIConnectionError):  # timeouts included
            raise ServerGone(f"lost the connection to vLLM at {ctx.endpoint} during a call") from None
        if isinstance(err, openai.NotFoundError):
            raise UserError(f"model {ctx.model!r} is not served at {ctx.endpoint}; check --model / LMLAB_MODEL") from None
        if isinstance(err, openai.APIStatusError):
            raise UserError(f"{ctx.endpoint} refused the call ({err.status_code}): {err.message}") from None
        raise


def finish_record(ctx: Context, call: CallRecord, prediction: dict | None, hits: dict | None) -> CallRecord:
    """The call's record with its prediction (and a note when the observation is more than one
    chunk off it) and its hits by source."""
    if prediction:
        p = prediction
        note = prediction_note(p["predicted_cached_tokens"], call.cached_tokens, ctx.chunk_size,
                               p["prompt_tokens_predicted"], call.prompt_tokens)  # fmt: skip
        call = replace(call, shared_prefix_tokens=p["shared_prefix_tokens"], predicted_cached_tokens=p["predicted_cached_tokens"],
                       first_difference=p["first_difference"], cache_note=note)  # fmt: skip
    return call.with_hits(hits)


def measured_call(
    ctx: Context,
    messages: list[dict],
    earlier: list[list[int]],
    config: RunnableConfig | None = None,
    **labels,
) -> tuple[CallRecord, list[int]]:
    """Predict, snapshot, stream, snapshot: one call's ``CallRecord`` (``labels`` are its other
    fields: question_id, question, node, layout, static_prefix_tokens, manual_tokens, turn, ...)
    and the prompt's token ids, for the next call's prediction."""
    prediction, ids = predict(ctx, messages, earlier)
    before = counters_before(ctx)
    result = stream_call(ctx, messages, config)
    hits = hits_between(ctx, before)
    return finish_record(ctx, CallRecord(**labels, **result), prediction, hits), ids
