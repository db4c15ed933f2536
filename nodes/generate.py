"""Node: stream the chat call through langchain-openai and time its first content token."""

import json
import time

import openai
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.state import State
from lab.errors import ServerGone, UserError
from nodes.cache_stats import counters_snapshot, lmcache_counters


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
    vLLM's own benchmarks; usage comes from the final chunk."""
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


def generate(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``messages``; returns ``pending`` (the call's timings, usage and answer) and
    ``metrics_before`` (vLLM's counters just before the call, for the cache-stats node)."""
    ctx = runtime.context or Context()
    if ctx.metrics_per_call:
        before = counters_snapshot(ctx)
    else:
        before = None
        lmcache_counters(ctx)  # no per-call figures under load, but a dead LMCache server still stops the run
    try:
        result = stream_timed(chat_model(ctx), state.messages, config)
    except openai.APIError as err:
        # A call in flight when the LMCache server dies can hang until vLLM's engine gives up (5 min),
        # then fail with a 500 or a broken stream: put that down to LMCache, which is the cause.
        lmcache_counters(ctx)
        if isinstance(err, openai.APIConnectionError):  # timeouts included
            raise ServerGone(f"lost the connection to vLLM at {ctx.endpoint} during a call") from None
        if isinstance(err, openai.NotFoundError):
            raise UserError(f"model {ctx.model!r} is not served at {ctx.endpoint}; check --model / LMLAB_MODEL") from None
        if isinstance(err, openai.APIStatusError):
            raise UserError(f"{ctx.endpoint} refused the call ({err.status_code}): {err.message}") from None
        raise
    question_id = state.question_index
    return {"pending": {"question_id": question_id, "question": state.questions[question_id], **result}, "metrics_before": before}
