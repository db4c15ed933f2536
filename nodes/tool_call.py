"""Tool-loop node: one turn's model call, over the static prefix and the conversation so far."""

from dataclasses import replace

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from clients.chat_stream import ChatStreamer
from clients.measured import EndpointMeter, measured_call
from graphs.context import Context
from graphs.tool_loop_state import ToolLoopState
from prompts.tool_loop import chosen_title, tool_call_text


def call_model(state: ToolLoopState, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``history``; returns the turn's ``reply``, the ``title`` it asks for (or the policy's) and its record."""
    ctx = runtime.context
    question = state.questions[state.question_index]
    turn = state.turn + 1
    messages = [{"role": "system", "content": state.static_prefix}, *state.history]
    record, ids = measured_call(
        ctx.server, ChatStreamer(ctx.max_tokens, ctx.temperature, ctx.logprobs, config), messages,
        meter=EndpointMeter(ctx.server, ctx.metrics_per_call), earlier=state.prompt_token_ids, chunk_size=ctx.chunk_size,
        question_id=state.question_index, question=question, node="call_model", turn=turn,
        static_prefix_tokens=state.static_prefix_tokens, manual_tokens=state.manual_size_tokens,
    )  # fmt: skip
    title, fallback = chosen_title(record.answer, state.titles, question, state.fetched)
    record = replace(record, fallback=fallback, tool_call=tool_call_text(title) if title is not None else "")
    return {"turn": turn, "reply": record.answer, "title": title, "calls": [record], "prompt_token_ids": [ids]}
