"""Manual reading, token budgeting and prompt layouts (pure logic, no server)."""

import os

import pytest

from lab.errors import UserError
from prompts.layouts import LAYOUTS, dynamic_part, get_layout, static_prefix
from prompts.manual import builtin_manual, cut_to_budget, read_manual


def words(text: str) -> int:
    """A stand-in tokenizer: one token per word."""
    return len(text.split())


def test_builtin_manual_is_large_and_always_present():
    assert words(builtin_manual()) > 50_000


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"  \n\t\n", "is empty"),
    (b"\x00\x01\x02binary", "looks binary"),
    (b"caf\xe9 latin-1", "is not UTF-8"),
])  # fmt: skip
def test_unusable_manuals_are_refused_with_a_reason(tmp_path, content, message):
    path = tmp_path / "manual.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_manual(path)


def test_a_missing_manual_is_refused(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_manual(tmp_path / "nope.txt")


def test_cut_keeps_whole_lines_within_budget():
    text = "\n".join(f"line {i} has five words" for i in range(100))
    cut = cut_to_budget(text, words, budget=52)
    assert words(cut) == 50 and cut.endswith("five words")


def test_cut_prefers_an_end_just_past_a_chunk_boundary():
    text = "\n".join("three word line" for _ in range(100))
    # 60 tokens fit; with chunks of 16 the cut walks back to 48 (= 3 chunks, 0 tokens of tail).
    cut = cut_to_budget(text, words, budget=60, chunk_size=16, slack=2)
    assert words(cut) == 48


def test_cut_refuses_a_budget_smaller_than_one_line():
    with pytest.raises(UserError, match="raise --manual-tokens"):
        cut_to_budget("many words on the first line", words, budget=2)


def test_static_prefix_is_identical_for_every_question():
    prefix = static_prefix("MANUAL TEXT", "edition 1")
    a = get_layout("manual_first")(prefix, dynamic_part("q1"))
    b = get_layout("manual_first")(prefix, dynamic_part("q2"))
    assert a[0] == b[0] and a[0]["content"].startswith(prefix)
    assert a[1]["content"].endswith("q1")


def shared_chars(layout: str, prefix: str) -> int:
    """How many leading characters two questions' prompts share under ``layout``."""
    a, b = (str(LAYOUTS[layout](prefix, dynamic_part(q))) for q in ("What is x?", "What is y?"))
    return len(os.path.commonprefix([a, b]))


def test_only_the_friendly_layout_shares_the_manual_between_questions():
    prefix = static_prefix("MANUAL TEXT " * 200)
    assert shared_chars("manual_first", prefix) > len(prefix)
    assert shared_chars("instructions_first", prefix) < 100
    assert shared_chars("timestamp_system", prefix) < 100


def test_unknown_layout_lists_the_valid_ones():
    with pytest.raises(UserError, match="valid layouts: manual_first, instructions_first, timestamp_system"):
        get_layout("question_first")
