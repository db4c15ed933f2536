"""The prompt check users run on their own template: what it reports, and its bad-input errors.

Most cases need no server (the lab's local model folder is the tokenizer); one compares with a
running server's /tokenize."""

import json

import pytest

from tests.e2e.helpers import assert_one_line_error, run_cli

FRIENDLY = "--- system ---\nYou answer from this manual.\n{manual}\n--- user ---\nQuestion: {question}\n"
STAMPED = "--- system ---\nToday is {now}. You answer from this manual.\n{manual}\n--- user ---\nQuestion: {question}\n"


def check(*args: str):
    return run_cli("experiments.check_prompt", *args, timeout=300)


def report(*args: str) -> dict:
    proc = check(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_friendly_template_reuses_the_manual(tmp_path):
    (tmp_path / "p.txt").write_text(FRIENDLY)
    r = report(str(tmp_path / "p.txt"), "--manual-tokens", "1200")
    assert r["cause"] == "late" and r["reusable_fraction"] > 0.75
    assert r["reusable_tokens"] == r["shared_tokens"] // 256 * 256, "whole chunks of the shared prefix"
    assert r["context_before"].endswith("Question:")


def test_a_timestamp_in_the_system_prompt_is_shown_at_its_token(tmp_path):
    (tmp_path / "p.txt").write_text(STAMPED)
    proc = check(str(tmp_path / "p.txt"), "--manual-tokens", "600")
    assert proc.returncode == 0, proc.stderr
    assert "reusable on a cache hit: 0 of" in proc.stdout
    assert "Today is 20" in proc.stdout and "system:" in proc.stdout


@pytest.mark.e2e
def test_the_served_tokenizer_gives_the_same_report(stack, tmp_path):
    (tmp_path / "p.txt").write_text(FRIENDLY)
    args = [str(tmp_path / "p.txt"), "--manual-tokens", "600"]
    local, served = report(*args), report(*args, "--endpoint", stack.settings.endpoint)
    for key in ("tokens_first", "tokens_second", "shared_tokens", "reusable_tokens", "cause"):
        assert local[key] == served[key], key


def test_a_template_without_the_question_placeholder(tmp_path):
    (tmp_path / "p.txt").write_text("Answer from the manual: {manual}\n")
    assert_one_line_error(check(str(tmp_path / "p.txt")), "has no {question} placeholder")


def test_a_question_larger_than_the_context_left_after_the_manual(tmp_path):
    (tmp_path / "p.txt").write_text(FRIENDLY)
    huge = "why " * 9000
    proc = check(str(tmp_path / "p.txt"), "--manual-tokens", "500", "--question", "short?", "--question", huge)
    assert_one_line_error(proc, "question 2 is", "leaves only", "--manual-tokens")


def test_an_unknown_layout_lists_the_valid_ones():
    assert_one_line_error(check("--layout", "question_first"), "manual_first, instructions_first, timestamp_system")


@pytest.mark.parametrize("args", [[], ["p.txt", "--layout", "manual_first"], ["--layout", "manual_first", "--question", "x"]])  # fmt: skip
def test_ambiguous_or_incomplete_arguments(args):
    assert_one_line_error(check(*args))


# A template that drops the content of every assistant turn but the latest, as templates stripping
# earlier reasoning do: a tool loop's history is then recomputed on every turn.
DROPS_EARLIER_ASSISTANT = (
    "{% set ns = namespace(last=-1) %}{% for m in messages %}{% if m['role'] == 'assistant' %}{% set ns.last = loop.index0 %}"
    "{% endif %}{% endfor %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] != 'assistant' or loop.index0 == ns.last %}{{ m['content'] }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_the_models_own_template_keeps_earlier_turns():
    r = report("--layout", "manual_first", "--manual-tokens", "500", "--turns")
    assert r["turns"]["prefix_holds"] is True and r["turns"]["diverges_at"] is None
    assert r["turns"]["tokens_after"] > r["turns"]["tokens_before"] > r["tokens_first"]
    assert r["cause"] == "late", "the two-question report is unchanged"


def test_a_template_that_rewrites_earlier_turns_is_shown_at_its_token(tmp_path):
    (tmp_path / "t.jinja").write_text(DROPS_EARLIER_ASSISTANT)
    proc = check("--layout", "manual_first", "--manual-tokens", "500", "--turns", "--chat-template", str(tmp_path / "t.jinja"))
    assert proc.returncode == 0, proc.stderr
    assert "earlier turns rewritten at token #" in proc.stdout
    assert "chat template rewrites earlier turns" in proc.stdout
    assert '"title": "assert"' in proc.stdout, "the dropped assistant content is shown"


def test_a_chat_template_with_a_served_tokenizer_is_refused():
    assert_one_line_error(check("--layout", "manual_first", "--chat-template", "t.jinja", "--endpoint", "http://127.0.0.1:1/v1"),
                          "--chat-template applies to the local tokenizer")
