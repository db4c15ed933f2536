"""How a tool loop's turns are written into the conversation: the model's reply (its tool call) as an
assistant message, the tool's result as a ``tool`` message after it.

Both are appended after the earlier turns and never rewritten, so each turn's prompt is the last
turn's prompt plus these two messages: the history is a prefix a cache can serve, unless the chat
template renders earlier turns differently once later ones follow (``experiments.check_prompt --turns``).
"""

# A tool round for checks that need one without a model or a manual (check_prompt --turns).
EXAMPLE_CALL = '{"tool": "find_section", "title": "assert"}'
EXAMPLE_RESULT = "## assert\n\nAssert statements are a convenient way to insert debugging assertions into a program."


def assistant_turn(reply: str) -> dict:
    """The model's reply exactly as it streamed it: the bytes the next turn's prompt repeats."""
    return {"role": "assistant", "content": reply}


def tool_turn(result: str, call_id: str) -> dict:
    """A tool's result. ``tool_call_id`` is what langchain's ToolMessage requires; chat templates that
    ignore it (SmolLM2's) render the role and the content alone."""
    return {"role": "tool", "content": result, "tool_call_id": call_id}


def tool_round(reply: str, result: str, call_id: str) -> list[dict]:
    """One turn of the loop as it is appended: the call, then its result."""
    return [assistant_turn(reply), tool_turn(result, call_id)]
