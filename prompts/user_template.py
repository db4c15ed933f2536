"""A user's own prompt template, read from a file and rendered for the prompt check.

Two formats:
- text: the whole file is one user message, or lines ``--- system ---``, ``--- user ---`` and
  ``--- assistant ---`` start the messages that follow them;
- ``.json``: a list of ``{"role": ..., "content": ...}`` messages.

Placeholders, replaced as plain text (other braces, e.g. JSON examples, are left alone):
``{question}`` (required), ``{manual}`` (the manual), ``{now}`` (the time of rendering, to the
microsecond) and ``{request_id}`` (a fresh UUID per rendering).
"""

import json
import re
import uuid
from datetime import datetime
from pathlib import Path

from lab.errors import UserError

QUESTION = "{question}"
PLACEHOLDERS = (QUESTION, "{manual}", "{now}", "{request_id}")
ROLES = ("system", "user", "assistant")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
_SECTION = re.compile(r"^---\s*(system|user|assistant)\s*---\s*$")


def parse_template(text: str, source: str = "template") -> list[dict]:
    """Messages with their placeholders still in them; refuses a template without ``{question}``."""
    if source.endswith(".json"):
        try:
            messages = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{source} is not valid JSON (line {err.lineno}: {err.msg})") from None
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in messages
        ) or not messages:  # fmt: skip
            raise UserError(f'{source} must be a JSON list of messages like {{"role": "user", "content": "..."}}')
    else:
        messages, current, lines = [], "user", []
        for line in text.splitlines():
            if match := _SECTION.match(line.strip()):
                if "".join(lines).strip():
                    messages.append({"role": current, "content": "\n".join(lines).strip("\n")})
                current, lines = match.group(1), []
            else:
                lines.append(line)
        if "".join(lines).strip():
            messages.append({"role": current, "content": "\n".join(lines).strip("\n")})
    if not any(QUESTION in m["content"] for m in messages):
        raise UserError(f"{source} has no {QUESTION} placeholder; put {QUESTION} where the user's question goes")
    return messages


def read_template(path: str | Path) -> list[dict]:
    p = Path(path).expanduser()
    if not p.is_file():
        why = "is not a file" if p.exists() else "does not exist"
        raise UserError(f"template {p} {why}; pass a text or .json template")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"template {p} is not UTF-8 (bad byte at offset {err.start})") from None
    if not text.strip():
        raise UserError(f"template {p} is empty; write your prompt in it with a {QUESTION} placeholder")
    return parse_template(text, str(p))


def uses(messages: list[dict], placeholder: str) -> bool:
    return any(placeholder in m["content"] for m in messages)


def render(messages: list[dict], question: str, manual: str = "") -> list[dict]:
    """One rendering: as an application would build it for ``question``, right now."""
    values = {
        QUESTION: question,
        "{manual}": manual,
        "{now}": datetime.now().isoformat(timespec="microseconds"),
        "{request_id}": str(uuid.uuid4()),
    }
    # One pass, so a placeholder inside the manual or the question is left as it is.
    fill = lambda hit: values[hit.group(0)]  # noqa: E731
    return [{"role": m["role"], "content": _PLACEHOLDER.sub(fill, m["content"])} for m in messages]
