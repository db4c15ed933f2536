"""Reading a server's log: its last lines, and its own last word on one line for an error message."""

import re
from collections import deque


def log_tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


# A line that names an exception, as the last line of a Python traceback does: "ValueError: ...".
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


def log_complaint(path: str, max_chars: int = 400) -> str:
    """A server's own last word, on one line: the last exception its log names and the lines after
    it (the stack frames above it stay in the log), else the log's last line."""
    tail = [line.strip() for line in log_tail(path, lines=60).splitlines()]
    tail = tail[max((i + 1 for i, line in enumerate(tail) if line.startswith("=== ")), default=0) :]  # this start only
    starts = [i for i, line in enumerate(tail) if EXCEPTION_LINE.match(line)]
    text = " | ".join(line for line in tail[starts[-1] if starts else -1 :] if line)
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."
