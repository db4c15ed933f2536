"""Node: build the static prefix (system text + manual), byte-identical for every question."""

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.state import State
from prompts.layouts import static_prefix


def build_static_prefix(state: State, runtime: Runtime[Context]) -> dict:
    """Reads ``manual``; returns ``static_prefix`` and its token count as the model sees it."""
    prefix = static_prefix(state.manual, state.manual_edition)
    tokens = runtime.context.server.count_chat_tokens([{"role": "system", "content": prefix}], add_generation_prompt=False)
    return {"static_prefix": prefix, "static_prefix_tokens": tokens}
