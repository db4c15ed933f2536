"""Agent node: say what to look for in the manual before answering."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graphs.agent_state import AgentState
from graphs.context import Context
from nodes.agent_call import node_call, recorded
from prompts.agent import plan_task
from prompts.agent_output import read_plan


def plan(state: AgentState, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``questions[question_index]``; returns ``plan`` (the search terms, or the question's own
    words when the reply does not parse, recorded as the call's ``fallback``) and starts the question afresh."""
    question = state.questions[state.question_index]
    record, ids = node_call(state, runtime.context, config, "plan", plan_task(question))
    parsed = read_plan(record.answer, question, record.reply_format)
    fresh = {"answer": "", "attempts": 0, "accepted": None, "reason": "", "rejected_answer": ""}
    return {"plan": parsed.text(), **fresh, **recorded(record, ids, parsed.fallback)}
