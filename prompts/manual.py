"""The manual: the built-in default (Python's documentation topics), or the user's own text file.

Reading and checking the text lives here; cutting it to a token budget takes a ``count_tokens``
function, so the same code works with vLLM's /tokenize endpoint or a local tokenizer.
"""

from collections.abc import Callable
from pathlib import Path

from lab.errors import UserError

MANUAL_SUFFIXES = {".txt", ".md", ".rst", ""}


def builtin_manual() -> str:
    """Python's documentation topics, which every CPython carries (``pydoc_data.topics``)."""
    from pydoc_data.topics import topics

    return "\n\n".join(f"## {name}\n\n{text.strip()}" for name, text in sorted(topics.items()))


def read_manual(path: str | Path) -> str:
    """Read a user's manual, refusing what cannot be a text manual."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"manual {p} does not exist; pass a .txt or .md file to --manual")
    if not p.is_file():
        raise UserError(f"manual {p} is not a file; pass a .txt or .md file to --manual")
    data = p.read_bytes()
    if b"\x00" in data[:8192]:
        raise UserError(f"manual {p} looks binary (it contains NUL bytes); pass a .txt or .md file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"manual {p} is not UTF-8 (bad byte at offset {err.start}); convert it, e.g. with iconv") from None
    if not text.strip():
        raise UserError(f"manual {p} is empty; pass a file with some text in it")
    return text


def cut_to_budget(
    text: str,
    count_tokens: Callable[[str], int],
    budget: int,
    chunk_size: int = 0,
    slack: int = 32,
) -> str:
    """The longest run of whole lines from the start of ``text`` whose count is within ``budget``.

    With ``chunk_size``, prefer a cut whose count ends at most ``slack`` tokens past a multiple of
    the chunk size: LMCache stores whole chunks only, so the tokens after the last full chunk are
    recomputed on every hit. Aligning the static prefix keeps that tail, and the hit TTFT, small.
    """
    lines = text.splitlines(keepends=True)
    # Binary search for the longest prefix of lines within budget (token count grows with lines).
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens("".join(lines[:mid]).rstrip()) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        raise UserError(f"a token budget of {budget} does not fit even the first line of the manual; raise --manual-tokens")
    if chunk_size:
        # Walk back a few lines at most (within about one chunk) looking for an aligned end.
        end = lo
        floor_tokens = count_tokens("".join(lines[:lo]).rstrip()) - chunk_size
        while end > 0:
            n = count_tokens("".join(lines[:end]).rstrip())
            if n % chunk_size <= slack:
                return "".join(lines[:end]).rstrip()
            if n < floor_tokens:
                break
            end -= 1
    return "".join(lines[:lo]).rstrip()
