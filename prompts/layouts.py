"""Prompt layouts: how the static prefix (system text + manual) and the dynamic part (instructions +
question) are assembled into chat messages. Where the dynamic part sits decides what a prefix cache
can reuse: only the tokens before the first difference."""

import time
import uuid
from collections.abc import Callable

from lab.registry import lookup
from prompts.templates import QUESTION_INSTRUCTIONS, STATIC_PREFIX, SYSTEM_PROMPT


def static_prefix(manual: str, edition: str = "") -> str:
    """System text + manual: identical for every question on one manual edition."""
    return STATIC_PREFIX.format(system=SYSTEM_PROMPT, manual=manual, edition=f" ({edition})" if edition else "")


def dynamic_part(question: str) -> str:
    return QUESTION_INSTRUCTIONS.format(question=question)


def manual_first(prefix: str, dynamic: str) -> list[dict]:
    """Cache-friendly: the whole static prefix first, the question last."""
    return [{"role": "system", "content": prefix}, {"role": "user", "content": dynamic}]


def instructions_first(prefix: str, dynamic: str) -> list[dict]:
    """Cache-busting: the per-question text comes before the manual, so no two calls share a prefix."""
    return [{"role": "system", "content": f"{dynamic}\n\n{prefix}"}, {"role": "user", "content": "Answer the question above."}]


def timestamp_system(prefix: str, dynamic: str) -> list[dict]:
    """A common bug: the friendly layout, but the system prompt starts with the time and a request id."""
    stamp = f"Current time: {time.strftime('%Y-%m-%dT%H:%M:%S')}.{time.time_ns() % 10**9:09d}. Request id: {uuid.uuid4()}."
    return [{"role": "system", "content": f"{stamp}\n{prefix}"}, {"role": "user", "content": dynamic}]


LAYOUTS: dict[str, Callable[[str, str], list[dict]]] = {
    "manual_first": manual_first,
    "instructions_first": instructions_first,
    "timestamp_system": timestamp_system,
}


def get_layout(name: str) -> Callable[[str, str], list[dict]]:
    return lookup(LAYOUTS, name, "layout")
