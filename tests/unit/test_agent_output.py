"""Reading a small model's plan and verdict: the JSON schemas the endpoint holds them to, and
the free-text reading for endpoints that refuse one; malformed replies fall back, and say that they did."""

import json

import pytest

from prompts.agent_output import MAX_TERMS, PlanReply, VerdictReply, parse_plan, parse_verdict, read_plan, read_verdict, response_format

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


@pytest.mark.parametrize("node", ["plan", "check"])
def test_each_schema_is_a_strict_openai_json_schema(node):
    rf = response_format(node)
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    schema = rf["json_schema"]["schema"]
    # What strict mode asks: every property required, none other allowed.
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(schema["properties"])
    json.dumps(rf)  # it travels as JSON in the request body


def test_the_schemas_bound_the_reply_so_a_small_token_cap_fits_it():
    plan = response_format("plan")["json_schema"]["schema"]["properties"]["look_for"]
    assert plan["maxItems"] == MAX_TERMS and plan["minItems"] == 1 and plan["items"]["maxLength"] <= 60
    check = response_format("check")["json_schema"]["schema"]["properties"]
    assert check["verdict"]["enum"] == ["ACCEPT", "REJECT"] and check["reason"]["maxLength"] <= 160
    assert list(check) == ["verdict", "reason"]  # the verdict comes first, as the free-text reading expects


def test_a_json_plan_gives_its_terms():
    plan = read_plan('{"look_for": ["assert statement", " AssertionError "]}', QUESTION)
    assert (plan.terms, plan.fallback) == (["assert statement", "AssertionError"], "")
    assert PlanReply.model_validate_json('{"look_for": ["x"]}').look_for == ["x"]


@pytest.mark.parametrize(("reply", "why"), [
    ('{"look_for": ["assert", "Asser', "json_invalid"),  # cut off at the token cap
    ("LOOK FOR: assert", "json_invalid"),  # an endpoint that ignored the schema
    ('{"look_for": []}', "too_short at look_for"),
    ('{"look_for": ["  ", "."]}', "look_for without terms"),
])  # fmt: skip
def test_a_json_plan_that_does_not_parse_falls_back_to_the_questions_words_and_says_why(reply, why):
    plan = read_plan(reply, QUESTION)
    assert plan.terms == ["assert", "statement"] and why in plan.fallback


def test_a_json_verdict_decides_and_gives_its_reason():
    verdict = read_verdict('{"verdict": "REJECT", "reason": " too vague "}')
    assert (verdict.accepted, verdict.reason, verdict.fallback) == (False, "too vague", "")
    assert VerdictReply.model_validate_json('{"verdict": "ACCEPT", "reason": ""}').verdict == "ACCEPT"


def test_a_json_verdict_that_does_not_parse_accepts_and_says_so():
    verdict = read_verdict('{"verdict": "REJ')
    assert verdict.accepted and "not a VerdictReply" in verdict.fallback


def test_free_text_replies_are_read_as_before():
    assert read_plan("LOOK FOR: assert; raise", QUESTION, "free_text") == parse_plan("LOOK FOR: assert; raise", QUESTION)
    assert read_verdict("REJECT: vague", "free_text") == parse_verdict("REJECT: vague")
