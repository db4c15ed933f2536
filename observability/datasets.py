"""A LangFuse dataset as the run's questions (``--dataset NAME``): each item's ``input`` is a question,
its ``expected_output`` the expected answer. Read through the SDK's public ``Langfuse.get_dataset``.

An item's input is the question itself (a string) or an object with a ``question``; its expected
output a string (or number), an object with an ``expected``, or nothing. Archived items are left out.
Anything wrong (no keys, no such dataset, an item of another shape) is one ``UserError`` line.
"""

import logging

from lab.errors import UserError
from observability.settings import LangfuseSettings
from observability.tracing import new_client
from prompts.questions import Question


def dataset_questions(name: str, settings: LangfuseSettings | None) -> tuple[Question, ...]:
    """The questions of the LangFuse dataset ``name``, in the order the SDK lists its items."""
    if settings is None:
        raise UserError(f"--dataset {name} reads a LangFuse dataset, but LangFuse is not configured; set LANGFUSE_PUBLIC_KEY, "
                        "LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL to your LangFuse project's")  # fmt: skip
    sdk_log = logging.getLogger("langfuse")
    was_disabled, sdk_log.disabled = sdk_log.disabled, True  # the SDK logs each failed request; the error line says it
    try:
        dataset = new_client(settings).get_dataset(name)
    except Exception as err:
        status = getattr(err, "status_code", None)
        why = "there is no such dataset" if status == 404 else f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else status}"
        raise UserError(f"cannot read the LangFuse dataset {name!r} at {settings.base_url} ({why}); "
                        "check the name and LANGFUSE_BASE_URL and keys") from None  # fmt: skip
    finally:
        sdk_log.disabled = was_disabled
    questions = [item_question(name, item) for item in dataset.items if not str(item.status).upper().endswith("ARCHIVED")]
    if not questions:
        raise UserError(f"the LangFuse dataset {name!r} has no active items; add items whose input is a question")
    texts = [q.text for q in questions]
    if len(set(texts)) < len(texts):
        repeated = next(t for t in texts if texts.count(t) > 1)
        raise UserError(f"the LangFuse dataset {name!r} asks {repeated[:60]!r} more than once; keep one item per question")
    return tuple(questions)


def item_question(dataset: str, item) -> Question:
    """One dataset item as a question; UserError for an input or expected output of another shape."""
    question = item.input.get("question") if isinstance(item.input, dict) else item.input
    if not isinstance(question, str) or not question.strip():
        raise UserError(f"item {item.id} of the LangFuse dataset {dataset!r} has no question: its input must be "
                        'the question, or an object with a "question" string')  # fmt: skip
    expected = item.expected_output
    if isinstance(expected, dict):
        expected = expected.get("expected")
    if expected is not None and not isinstance(expected, (str, int, float)):
        raise UserError(f"item {item.id} of the LangFuse dataset {dataset!r}: its expected output must be a string, "
                        'or an object with an "expected" string')  # fmt: skip
    expected = str(expected).strip() if expected is not None else ""
    return Question(question.strip(), expected or None)
