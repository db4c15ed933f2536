"""Agent node: judge the answer against the manual; a rejection sends the graph back to ``answer``."""

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from graphs.agent_state import AgentState
from graphs.context import Context
from nodes.agent_call import node_call, recorded
from prompts.agent import check_task
from prompts.agent_output import read_verdict


def check(state: AgentState, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Reads ``answer``; returns ``accepted`` and ``reason`` (and ``rejected_answer`` on a rejection).
    With ``check_verdict=reject_once`` the first check of each question rejects whatever the reply says."""
    ctx = runtime.context
    question = state.questions[state.question_index]
    record, ids = node_call(state, ctx, config, "check", check_task(question, state.answer))
    verdict = read_verdict(record.answer, record.reply_format)
    forced = ctx.check_verdict == "reject_once" and state.attempts == 1
    accepted = verdict.accepted and not forced
    note = "; ".join(filter(None, [verdict.fallback, "rejected by check_verdict=reject_once" if forced else ""]))
    update = {"accepted": accepted, "reason": verdict.reason, "rejected_answer": "" if accepted else state.answer}
    return update | recorded(record, ids, note)


def after_check(state: AgentState, runtime: Runtime[Context]) -> str:
    """Route: back to ``answer`` after a rejection while retries are left, else finish the question."""
    if state.accepted is False and state.attempts <= runtime.context.answer_retries:
        return "answer"
    return "finish_question"
