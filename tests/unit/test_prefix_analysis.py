"""Prefix analysis: the reuse rule (recorded on the real stack) and the diagnosis of two renderings,
on the served model's real tokenizer and chat template (its local folder; no server)."""

import pytest

from prompts.layouts import dynamic_part, get_layout, static_prefix
from prompts.prefix_analysis import (
    cacheable_tokens,
    common_prefix_len,
    compare_renderings,
    compare_turns,
    difference_snippet,
    longest_shared,
    prediction_note,
)
from prompts.tokenizers import LocalTokenizer
from prompts.tool_turns import tool_round
from serving.model import resolve_model_dir

CHUNK = 256


@pytest.fixture(scope="module")
def tok() -> LocalTokenizer:
    return LocalTokenizer(resolve_model_dir(log=lambda *a: None))


# Measured on the lab's stack (vLLM CPU + LMCache MP connector, prefix cache off): a 1,100-token
# prompt sent after one sharing its first `shared` tokens, and prompts sent twice.
@pytest.mark.parametrize(("shared", "prompt_len", "observed"), [
    (200, 1100, 0), (255, 1100, 0), (256, 1100, 256), (257, 1100, 256), (511, 1100, 256), (512, 1100, 512),
    (700, 1100, 512), (1000, 1100, 768), (1099, 1100, 1024),
    (1024, 1024, 1023),  # the same prompt again: the last token is always computed
    (1023, 1023, 768), (1025, 1025, 1024),
])  # fmt: skip
def test_cacheable_tokens_match_what_the_stack_reported(shared, prompt_len, observed):
    assert cacheable_tokens(shared, prompt_len, CHUNK) == observed


def test_the_shared_prefix_is_taken_from_the_closest_earlier_prompt():
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert longest_shared([1, 2, 3, 4], [[9], [1, 2, 3, 9], [1, 2]]) == (3, 1)
    assert longest_shared([1, 2], []) == (0, None)


def test_a_prediction_within_one_chunk_is_not_flagged():
    assert prediction_note(3840, 3840, CHUNK, 3900, 3900) == ""
    assert prediction_note(3840, 3584, CHUNK, 3900, 3900) == ""


@pytest.mark.parametrize(("predicted", "observed", "prompt", "words"), [
    (3840, 0, (3900, 3900), "evicted"),
    (0, 3840, (3900, 3900), "outside the session"),
    (3840, 3840, (3900, 3912), "chat template adds dynamic text"),
])  # fmt: skip
def test_a_prediction_more_than_one_chunk_off_is_flagged_with_a_cause(predicted, observed, prompt, words):
    assert words in prediction_note(predicted, observed, CHUNK, *prompt)


def layout_prompts(layout: str, manual: str = "Reference text. " * 600) -> tuple[list[dict], list[dict]]:
    render = get_layout(layout)
    prefix = static_prefix(manual, "edition 1")
    return render(prefix, dynamic_part("What is x?")), render(prefix, dynamic_part("How does y work?"))


def test_manual_first_shares_the_whole_static_prefix_and_reuses_its_whole_chunks(tok):
    first, second = layout_prompts("manual_first")
    prefix_tokens = len(tok.chat_ids(first[:1], add_generation_prompt=False))
    report = compare_renderings(tok, first, second, CHUNK)
    assert report.shared_tokens > prefix_tokens > 1500
    assert report.reusable_tokens == report.shared_tokens // CHUNK * CHUNK
    assert report.reusable_fraction > 0.9
    assert (report.cause, report.message_index, report.role) == ("late", 1, "user")
    assert report.context_before.endswith("Question:")
    assert report.first_continues.startswith(" What is x?")


@pytest.mark.parametrize("layout", ["instructions_first", "timestamp_system"])
def test_busting_layouts_part_in_the_system_message_before_the_manual(tok, layout):
    first, second = layout_prompts(layout)
    report = compare_renderings(tok, first, second, CHUNK)
    assert report.shared_tokens < 40
    assert report.reusable_tokens == 0
    assert (report.cause, report.role) == ("system", "system")


def test_the_timestamp_is_where_the_timestamp_layout_parts(tok):
    report = compare_renderings(tok, *layout_prompts("timestamp_system"), CHUNK)
    assert "Current time: " in report.context_before


def test_a_chat_template_that_renders_the_time_defeats_identical_messages():
    dated = LocalTokenizer(
        resolve_model_dir(log=lambda *a: None),
        chat_template="{{ 'Now: ' + strftime_now('%H:%M:%S.%f') }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
    )
    messages = [{"role": "user", "content": "Reference text. " * 100}]
    report = compare_renderings(dated, messages, messages, CHUNK)
    assert report.cause == "template"
    assert report.reusable_tokens == 0


def test_a_tokenization_seam_is_named_when_it_costs_a_chunk(tok):
    # "the cat" is common text, but one rendering spells it " cat" and the other " cats": the
    # token before the real difference is lost too. With a chunk boundary right after it, that
    # costs the whole chunk.
    first = [{"role": "user", "content": "Reference: the cat? Tell me."}]
    second = [{"role": "user", "content": "Reference: the cats? Tell me."}]
    at = compare_renderings(tok, first, second, CHUNK).shared_tokens
    report = compare_renderings(tok, first, second, chunk=at + 1)
    assert report.cause == "seam"
    assert report.first_continues.startswith(" cat?") and report.second_continues.startswith(" cats?")


def test_identical_renderings_reuse_all_whole_chunks_but_the_last_token(tok):
    first, _ = layout_prompts("manual_first")
    report = compare_renderings(tok, first, first, CHUNK)
    assert report.cause == "identical"
    assert report.reusable_tokens == min(report.tokens_first // CHUNK * CHUNK, report.tokens_first - 1)


def test_the_difference_snippet_marks_the_first_differing_token(tok):
    first, second = layout_prompts("manual_first")
    a, b = tok.chat_ids(first), tok.chat_ids(second)
    snippet = difference_snippet(tok.decode, b, common_prefix_len(a, b))
    assert snippet.startswith("…") and "Question:⟦ How does y work?" in snippet
    assert "\n" not in snippet


# ----- does the chat template keep earlier turns as they were? -----

# Templates that rewrite earlier turns, as some real ones do: one drops the content of every assistant
# turn but the latest (as templates that strip earlier reasoning do), one marks the latest message.
DROPS_EARLIER_ASSISTANT = (
    "{% set ns = namespace(last=-1) %}{% for m in messages %}{% if m['role'] == 'assistant' %}{% set ns.last = loop.index0 %}"
    "{% endif %}{% endfor %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] != 'assistant' or loop.index0 == ns.last %}{{ m['content'] }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MARKS_THE_LAST_TURN = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}{% if loop.last %} (latest){% endif %}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def one_round_conversation() -> tuple[list[dict], list[dict]]:
    """A question with one tool round (call, result), and the next round a tool loop appends."""
    opening = [{"role": "system", "content": "Reference text. " * 50}, {"role": "user", "content": "What is x?"}]
    first = tool_round('{"title": "assert"}', "## assert\n\nAssert statements check a condition.", "call_1")
    second = tool_round('{"title": "for"}', "## for\n\nThe for statement iterates over a sequence.", "call_2")
    return [*opening, *first], second


def test_smollm2s_own_template_keeps_earlier_turns_so_the_history_is_a_prefix(tok):
    before, added = one_round_conversation()
    report = compare_turns(tok, before, added, turns=1)
    assert report.prefix_holds and report.diverges_at is None
    assert report.tokens_after > report.tokens_before
    assert "prefix" in report.hint


def test_a_template_that_drops_earlier_assistant_turns_is_caught_where_it_drops_them():
    tok = LocalTokenizer(resolve_model_dir(log=lambda *a: None), chat_template=DROPS_EARLIER_ASSISTANT)
    before, added = one_round_conversation()
    report = compare_turns(tok, before, added, turns=1)
    assert not report.prefix_holds
    assert report.context_before.endswith("<|im_start|>assistant\\n")
    assert report.before_continues.startswith('{"title": "assert"}')  # the 1-round prompt still shows it
    assert report.after_continues.startswith("<|im_end|>")  # the 2-round prompt dropped it
    assert report.diverges_at < report.tokens_before and "rewrites earlier turns" in report.hint


def test_a_template_that_marks_the_latest_turn_is_caught_at_the_marker():
    tok = LocalTokenizer(resolve_model_dir(log=lambda *a: None), chat_template=MARKS_THE_LAST_TURN)
    before, added = one_round_conversation()
    report = compare_turns(tok, before, added, turns=1)
    assert not report.prefix_holds
    assert report.context_before.endswith("<|im_start|>tool")
    assert report.before_continues.startswith(" (latest)")
