"""The questions a run asks: the built-in ones about the built-in manual, or the user's own."""

from dataclasses import dataclass

from prompts.templates import DEFAULT_QUESTIONS


@dataclass(frozen=True)
class Question:
    """One question; ``expected`` is the answer it should get (scored by ``metrics.correctness``), if known."""

    text: str
    expected: str | None = None


BUILT_IN: tuple[Question, ...] = tuple(Question(q) for q in DEFAULT_QUESTIONS)


def expectations(questions: tuple[Question, ...]) -> dict[str, str]:
    """Question text -> expected answer, for the questions that have one."""
    return {q.text: q.expected for q in questions if q.expected}
