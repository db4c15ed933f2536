"""The user's own questions, from ``--questions-file``: one question a line, or CSV/JSONL with
``question`` and optional ``expected``. Everything wrong with the file is one ``UserError`` line,
raised before any folder or server exists."""

import csv
import io
import json
from pathlib import Path

from lab.errors import UserError
from prompts.questions import Question

FORMATS = "one question a line (.txt), or .csv/.jsonl with a 'question' and an optional 'expected'"


def load_questions(path: str | Path) -> tuple[Question, ...]:
    """The questions in ``path``, in file order; the format follows the suffix (.csv, .jsonl, else text)."""
    p = Path(path).expanduser()
    text = _read_text(p)
    suffix = p.suffix.lower()
    # (where, question, expected): where names the line or row for an error message.
    found = _csv(p, text) if suffix == ".csv" else _jsonl(p, text) if suffix == ".jsonl" else _lines(text)
    questions, seen = [], {}
    for where, question, expected in found:
        question = (question or "").strip()
        if not question:
            raise UserError(f"questions file {p}: {where} has no question; give every row one, or drop it")
        if question in seen:
            raise UserError(f"questions file {p}: {where} repeats the question of {seen[question]} "
                            f"({question[:60]!r}); keep one")  # fmt: skip
        seen[question] = where
        expected = str(expected).strip() if expected is not None else ""
        questions.append(Question(question, expected or None))
    if not questions:
        raise UserError(f"questions file {p} holds no questions; write {FORMATS}")
    return tuple(questions)


def _read_text(p: Path) -> str:
    if not p.is_file():
        raise UserError(f"questions file {p} does not exist or is not a file; pass {FORMATS} to --questions-file")
    data = p.read_bytes()
    if b"\x00" in data[:8192]:
        raise UserError(f"questions file {p} looks binary (it contains NUL bytes); write {FORMATS}")
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's CSV often opens with a byte-order mark
    except UnicodeDecodeError as err:
        raise UserError(f"questions file {p} is not UTF-8 (bad byte at offset {err.start}); "
                        "convert it, e.g. with iconv") from None  # fmt: skip


def _lines(text: str):
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield f"line {n}", line, None


def _csv(p: Path, text: str):
    reader = csv.DictReader(io.StringIO(text, newline=""))
    names = [(n or "").strip().lower() for n in reader.fieldnames or []]
    if "question" not in names:
        raise UserError(f"questions file {p} has no 'question' column (its header: {', '.join(names) or 'none'}); "
                        "make the first row name the columns, e.g. question,expected")  # fmt: skip
    reader.fieldnames = names
    try:
        for n, row in enumerate(reader, 2):
            yield f"row {n}", row.get("question"), row.get("expected")
    except csv.Error as err:
        raise UserError(f"questions file {p} is not a readable CSV file ({err}); check its quoting") from None


def _jsonl(p: Path, text: str):
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise UserError(f'questions file {p}: line {n} is not a JSON object with a "question" string; '
                            'write one object a line, e.g. {"question": "...", "expected": "..."}')  # fmt: skip
        yield f"line {n}", item["question"], item.get("expected")
