"""Prompts of the tool-loop graph: the task that asks the model for a section to look up, and reading
its reply.

Each turn's prompt is the static prefix (system text + manual, the same bytes the other graphs send),
the task, then every earlier turn's reply and tool result, appended (``prompts.tool_turns``). A
135M model does not call tools reliably, so the reply is read defensively: a ``"title"`` naming one
of the manual's sections (closest match) is the call; anything else falls back to a deterministic
policy (the first section not fetched yet whose title shares a word with the question, else the
first one not fetched yet, in the manual's order), and the call's ``fallback`` column says so.
Either way the turn appends a real tool result, which is what the cache sees.
"""

import json
import re

from graphs.tools import match_title
from prompts.agent_output import question_terms

MAX_TITLES = 30  # titles listed in the task: enough to choose from, few enough to stay short
TASK = (
    "Question: {question}\n\n"
    "You can look up one section of the manual per turn with the tool find_section(title). "
    'Reply with JSON only, e.g. {{"tool": "find_section", "title": "{example}"}}. '
    "Section titles: {titles}."
)
_TITLE = re.compile(r'"title"\s*:\s*"([^"]*)"')


def tool_task(question: str, titles: list[str]) -> str:
    shown = titles[:MAX_TITLES]
    return TASK.format(question=question, example=shown[0] if shown else "title", titles=", ".join(shown) or "none")


def tool_call_text(title: str) -> str:
    """The call as the records and trace name it."""
    return f"find_section({json.dumps(title)})"


def policy_title(titles: list[str], question: str, fetched: list[str]) -> str | None:
    """The deterministic choice: the first title not fetched yet sharing a word with the question,
    else the first not fetched yet, else the first; None when the manual has no sections."""
    left = [t for t in titles if t not in fetched] or titles
    words = {w.lower() for w in question_terms(question)}
    related = [t for t in left if words & {w.lower() for w in re.findall(r"\w+", t)}]
    return (related or left or [None])[0]


def chosen_title(reply: str, titles: list[str], question: str, fetched: list[str]) -> tuple[str | None, str]:
    """(the section the turn fetches, the fallback that chose it: "" when the model's reply named it)."""
    m = _TITLE.search(reply)
    title = match_title(titles, m.group(1)) if m else None
    if title is not None:
        return title, ""
    why = "policy: no title in the reply" if m is None else f"policy: no section like {m.group(1)!r}"
    return policy_title(titles, question, fetched), why
