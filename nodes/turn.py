"""Agent node: close the current question (it becomes a turn of the conversation) and route to the next."""

from graphs.agent_state import AgentState


def finish_question(state: AgentState) -> dict:
    """Reads ``answer``; appends (question, final answer) to ``turns`` and moves to the next question."""
    return {"turns": [(state.questions[state.question_index], state.answer)], "question_index": state.question_index + 1}


def next_question(state: AgentState) -> str:
    """Route: plan the next question, or finish."""
    return "plan" if state.question_index < len(state.questions) else "__end__"
