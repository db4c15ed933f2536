"""Is an answer correct? One stated, simple rule: a normalised contains-match.

Both texts are normalised (lower case, punctuation dropped, runs of whitespace made one space) and
the answer is correct when it contains the expected text. ``"The assert statement raises
AssertionError."`` is correct for ``"raises assertionerror"``; a paraphrase is not. A small model's
answers are short, so the rule is meant for expectations of a few key words.
"""

import re
import string

_PUNCTUATION = str.maketrans(string.punctuation, " " * len(string.punctuation))


def normalise(text: str) -> str:
    """Lower case, punctuation as spaces, whitespace collapsed: ``"Raises  AssertionError!"`` -> ``"raises assertionerror"``."""
    return re.sub(r"\s+", " ", text.lower().translate(_PUNCTUATION)).strip()


def is_correct(answer: str, expected: str | None) -> int | None:
    """1 when the normalised ``answer`` contains the normalised ``expected``, else 0; None without an expectation."""
    if not expected or not normalise(expected):
        return None
    return int(normalise(expected) in normalise(answer or ""))


# The agent graph's calls whose replies are not the answer (a plan of what to look for, a verdict on
# the answer): they get no score. Every other call answers its question.
NOT_ANSWERS = frozenset({"plan", "check"})


def answers_the_question(node: str) -> bool:
    """Whether a call made by ``node`` is an answer to its question, and so is scored."""
    return node not in NOT_ANSWERS
