"""Node: add the dynamic part (instructions + next question) to the static prefix, per the layout."""

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.state import State
from prompts.layouts import dynamic_part, get_layout


def add_question(state: State, runtime: Runtime[Context]) -> dict:
    """Reads ``static_prefix`` and ``questions[question_index]``; returns the call's ``messages``."""
    ctx = runtime.context
    layout = get_layout(ctx.layout)
    return {"messages": layout(state.static_prefix, dynamic_part(state.questions[state.question_index]))}


def more_questions(state: State) -> str:
    """Route after a call: ask the next question, or finish."""
    return "add_question" if state.question_index < len(state.questions) else "__end__"
