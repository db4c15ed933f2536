"""Node: the question's one measured call, streamed through langchain-openai (``clients.measured.measured_call``)."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from clients.chat_stream import ChatStreamer
from clients.measured import EndpointMeter, measured_call
from graphs.context import Context
from graphs.state import State


def generate(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``messages`` and ``prompt_token_ids`` (the session's earlier prompts, for the prediction);
    returns the call's record as ``measured`` (``collect_cache_stats`` records it) and appends this
    prompt's ids to ``prompt_token_ids``."""
    ctx = runtime.context
    question_id = state.question_index
    record, ids = measured_call(
        ctx.server, ChatStreamer(ctx.max_tokens, ctx.temperature, ctx.logprobs, config), state.messages,
        meter=EndpointMeter(ctx.server, ctx.metrics_per_call), earlier=state.prompt_token_ids, chunk_size=ctx.chunk_size,
        question_id=question_id, question=state.questions[question_id], node="generate", layout=ctx.layout,
        static_prefix_tokens=state.static_prefix_tokens, manual_tokens=state.manual_size_tokens,
    )  # fmt: skip
    return {"measured": record, "prompt_token_ids": [ids]}
