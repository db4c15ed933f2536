"""Reading a small model's plan and verdict: malformed replies fall back, and say that they did."""

import pytest

from prompts.agent_output import parse_plan, parse_verdict

QUESTION = "What does the assert statement do?"


@pytest.mark.parametrize(("reply", "terms"), [
    ("LOOK FOR: assert statement; AssertionError; debugging", ["assert statement", "AssertionError", "debugging"]),
    ("Sure.\n**LOOK FOR:** assert, __debug__", ["assert", "__debug__"]),
    ("look for - 'assert'; \"raise\"; a; b", ["assert", "raise", "a"]),  # at most three terms
])  # fmt: skip
def test_a_well_formed_plan_gives_its_terms(reply, terms):
    plan = parse_plan(reply, QUESTION)
    assert plan.terms == terms and plan.fallback == ""


@pytest.mark.parametrize(("reply", "why"), [
    ("", "empty reply"),
    ("   \n", "empty reply"),
    ("The assert statement is used for debugging.", "no LOOK FOR: line"),
    ("LOOK FOR: ;;", "without terms"),
    ("LOOK", "no LOOK FOR: line"),  # a reply cut off after one token
])  # fmt: skip
def test_a_malformed_plan_falls_back_to_the_questions_words_and_says_so(reply, why):
    plan = parse_plan(reply, QUESTION)
    assert plan.terms == ["assert", "statement"]
    assert why in plan.fallback
    assert plan.text() == "assert; statement"


def test_a_question_of_stopwords_only_is_its_own_plan():
    assert parse_plan("", "What is it?").terms == ["What is it?"]


@pytest.mark.parametrize(("reply", "accepted", "reason"), [
    ("ACCEPT. The manual says so.", True, "The manual says so"),
    ("REJECT: the answer is too vague.", False, "the answer is too vague"),
    ("I would reject this; accept is wrong.", False, "this; accept is wrong"),  # the first verdict word counts
    ("Rejected", False, "Rejected"),
])  # fmt: skip
def test_the_first_verdict_word_decides(reply, accepted, reason):
    verdict = parse_verdict(reply)
    assert (verdict.accepted, verdict.reason, verdict.fallback) == (accepted, reason, "")


def test_a_reply_without_a_verdict_accepts_so_the_graph_never_loops_on_noise():
    verdict = parse_verdict("The answer mentions assert.")
    assert verdict.accepted and "neither ACCEPT nor REJECT" in verdict.fallback
