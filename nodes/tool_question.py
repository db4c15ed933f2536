"""Tool-loop nodes: open a question's conversation, close it, and the routes between turns."""

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.tool_loop_state import ToolLoopState
from graphs.tools import sections
from prompts.tool_loop import tool_task


def start_question(state: ToolLoopState) -> dict:
    """Reads ``manual`` and ``questions[question_index]``; returns a fresh ``history`` holding the task alone."""
    titles = state.titles or list(sections(state.manual))
    task = tool_task(state.questions[state.question_index], titles)
    return {"titles": titles, "history": [{"role": "user", "content": task}], "turn": 0, "fetched": [], "reply": "", "title": None}


def finish_question(state: ToolLoopState) -> dict:
    """Moves to the next question."""
    return {"question_index": state.question_index + 1}


def next_question(state: ToolLoopState) -> str:
    """Route: open the next question, or finish."""
    return "start_question" if state.question_index < len(state.questions) else "__end__"


def after_call(state: ToolLoopState, runtime: Runtime[Context]) -> str:
    """Route: run the tool the reply asked for while turns are left, else close the question."""
    return "run_tool" if state.turn < runtime.context.tool_turns and state.title is not None else "finish_question"
