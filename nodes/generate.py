"""Node: stream the chat call through langchain-openai and time its first content token."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from clients.measured import counters_before, stream_call
from graphs.context import Context
from graphs.state import State


def generate(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``messages``; returns ``pending`` (the call's timings, usage and answer) and
    ``metrics_before`` (the counters just before the call, for the cache-stats node)."""
    ctx = runtime.context
    before = counters_before(ctx)
    result = stream_call(ctx, state.messages, config)
    question_id = state.question_index
    return {"pending": {"question_id": question_id, "question": state.questions[question_id], **result}, "metrics_before": before}
