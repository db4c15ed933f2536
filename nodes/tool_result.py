"""Tool-loop node: run find_section and append the turn (the reply, then the tool's result) to the conversation."""

from graphs.tool_loop_state import ToolLoopState
from graphs.tools import find_section
from prompts.tool_turns import tool_round


def run_tool(state: ToolLoopState) -> dict:
    """Reads ``reply`` and ``title``; returns ``history`` with the turn appended (never rewritten) and ``fetched``."""
    _, result = find_section(state.manual, state.title)
    appended = tool_round(state.reply, result, f"call_{state.question_index}_{state.turn}")
    return {"history": [*state.history, *appended], "fetched": [*state.fetched, state.title]}
