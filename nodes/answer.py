"""Agent node: answer the question from the manual, following the plan (and the checker's reason on a retry)."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graphs.agent_state import AgentState
from graphs.context import Context
from nodes.agent_call import node_call, recorded
from prompts.agent import answer_task


def answer(state: AgentState, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``plan`` and, after a rejection, ``rejected_answer`` and ``reason``; returns ``answer``
    and counts the attempt."""
    question = state.questions[state.question_index]
    rejected = (state.rejected_answer, state.reason) if state.accepted is False else None
    record, ids = node_call(state, runtime.context, config, "answer", answer_task(question, state.plan, rejected))
    return {"answer": record.answer.strip(), "attempts": state.attempts + 1, **recorded(record, ids)}
