"""Node: attribute the call's cached tokens to their source from /metrics deltas."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from clients.measured import finish_record, hits_between
from graphs.context import Context
from graphs.state import State
from metrics.records import CallRecord

NODE = "generate"  # the node that made the call this one records


def collect_cache_stats(state: State, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``pending``, ``metrics_before`` and ``prediction``; appends one ``CallRecord`` to ``calls``
    (flagging a prediction more than one chunk off) and moves to the next question."""
    ctx = runtime.context
    call = CallRecord(**state.pending, node=NODE, layout=ctx.layout, static_prefix_tokens=state.static_prefix_tokens,
                      manual_tokens=state.manual_tokens)  # fmt: skip
    record = finish_record(ctx, call, state.prediction, hits_between(ctx, state.metrics_before))
    done = {"pending": None, "metrics_before": None, "prediction": None}
    return {"calls": [record], **done, "question_index": state.question_index + 1}
