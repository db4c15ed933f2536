"""Agent prompt layouts and follow-up modes, on the served model's real tokenizer and chat template
(its local folder; no server): which tokens the agent's nodes and turns can share."""

import pytest

from lab.errors import UserError
from prompts.agent import NODE_ROLES, answer_task, check_agent_settings, check_task, node_messages, plan_task
from prompts.layouts import static_prefix
from prompts.prefix_analysis import common_prefix_len
from prompts.tokenizers import LocalTokenizer
from serving.model import resolve_model_dir

MANUAL = "The assert statement checks a condition and raises AssertionError when it is false.\n" * 60
QUESTION = "What does the assert statement do?"
TASKS = {
    "plan": plan_task(QUESTION),
    "answer": answer_task(QUESTION, "assert; AssertionError"),
    "check": check_task(QUESTION, "It checks a condition."),
}
RETRY = answer_task(QUESTION, "assert; AssertionError", rejected=("It checks a condition.", "too vague"))


@pytest.fixture(scope="module")
def tok() -> LocalTokenizer:
    return LocalTokenizer(resolve_model_dir(log=lambda *a: None))


@pytest.fixture(scope="module")
def prefix_ids(tok) -> list[int]:
    """The static prefix (system text + manual) alone, as the model sees it."""
    return tok.chat_ids([{"role": "system", "content": static_prefix(MANUAL, "edition 1")}], add_generation_prompt=False)


def node_ids(tok, layout: str, node: str, task: str, conversation: str = "independent", turns=()) -> list[int]:
    messages = node_messages(layout, conversation, static_prefix(MANUAL, "edition 1"), node, task, list(turns))
    return tok.chat_ids(messages)


def test_shared_prefix_gives_every_node_the_same_static_prefix_tokens(tok, prefix_ids):
    prompts = {node: node_ids(tok, "shared_prefix", node, task) for node, task in TASKS.items()}
    prompts["answer (retry)"] = node_ids(tok, "shared_prefix", "answer", RETRY)
    for node, ids in prompts.items():
        assert ids[: len(prefix_ids)] == prefix_ids, f"{node} does not open with the static prefix's tokens"
    # The qa graph sends the same system message, so an agent and the qa graph share the manual's KV too.
    assert len(prefix_ids) > 1000


def test_per_node_system_gives_each_node_its_own_prompt_from_the_first_tokens(tok, prefix_ids):
    prompts = {node: node_ids(tok, "per_node_system", node, task) for node, task in TASKS.items()}
    for a in prompts:
        for b in prompts:
            if a != b:
                # Less than one 256-token chunk in common: nothing another node cached is reusable.
                assert common_prefix_len(prompts[a], prompts[b]) < 32, (a, b)
    # Within one node (the answer and its retry) the whole manual is shared.
    retry = node_ids(tok, "per_node_system", "answer", RETRY)
    assert common_prefix_len(prompts["answer"], retry) > len(prefix_ids)


def test_role_texts_sit_after_the_manual_only_in_shared_prefix():
    prefix = static_prefix(MANUAL)
    shared = node_messages("shared_prefix", "independent", prefix, "plan", TASKS["plan"], [])
    per_node = node_messages("per_node_system", "independent", prefix, "plan", TASKS["plan"], [])
    assert shared[0]["content"] == prefix and NODE_ROLES["plan"] in shared[-1]["content"]
    assert per_node[0]["content"].startswith(NODE_ROLES["plan"]) and per_node[0]["content"].endswith(prefix)


TURNS = [("What does assert do?", "It checks a condition."), ("And when it fails?", "It raises AssertionError.")]


def shared_with_previous_turn(tok, conversation: str, turn: int) -> int:
    """Tokens turn ``turn``'s plan prompt shares with turn ``turn - 1``'s."""
    now = node_ids(tok, "shared_prefix", "plan", TASKS["plan"], conversation, TURNS[:turn])
    before = node_ids(tok, "shared_prefix", "plan", TASKS["plan"], conversation, TURNS[: turn - 1])
    return common_prefix_len(now, before)


def test_appended_turns_keep_everything_before_the_newest_turn_shared(tok, prefix_ids):
    second, third = shared_with_previous_turn(tok, "append", 1), shared_with_previous_turn(tok, "append", 2)
    assert second >= len(prefix_ids)
    # One turn later, the shared part has grown by the whole first turn.
    first_turn = len(node_ids(tok, "shared_prefix", "plan", TASKS["plan"], "append", TURNS[:1])) - len(
        node_ids(tok, "shared_prefix", "plan", TASKS["plan"], "append", []))
    assert third - second == first_turn


def test_a_rewritten_history_start_shares_nothing_after_the_manual(tok, prefix_ids):
    for turn in (1, 2):
        shared = shared_with_previous_turn(tok, "rewrite", turn)
        assert len(prefix_ids) <= shared < len(prefix_ids) + 24


@pytest.mark.parametrize(("layout", "conversation", "message"), [
    ("question_first", "independent", "valid agent layouts: shared_prefix, per_node_system"),
    ("shared_prefix", "summary", "valid modes: independent, append, rewrite"),
])  # fmt: skip
def test_unknown_layouts_and_modes_list_the_valid_ones(layout, conversation, message):
    with pytest.raises(UserError, match=message):
        node_messages(layout, conversation, "prefix", "plan", "task", [])


@pytest.mark.parametrize(("settings", "message"), [
    (("per_node", "independent", "model", 1), "valid agent layouts"),
    (("shared_prefix", "append", "always", 1), "valid: model, reject_once"),
    (("shared_prefix", "append", "model", -1), "0 or more"),
])  # fmt: skip
def test_bad_agent_settings_are_refused_with_the_valid_ones(settings, message):
    with pytest.raises(UserError, match=message):
        check_agent_settings(*settings)


@pytest.mark.parametrize("layout", ["shared_prefix", "per_node_system"])
@pytest.mark.parametrize("node", ["plan", "check"])
def test_the_reply_format_is_asked_after_the_manual_so_both_formats_share_the_cached_prefix(tok, prefix_ids, layout, node):
    json_ids, free_ids = (tok.chat_ids(node_messages(layout, "independent", static_prefix(MANUAL, "edition 1"), node, TASKS[node], [], replies))
                          for replies in ("json_schema", "free_text"))  # fmt: skip
    assert json_ids != free_ids and common_prefix_len(json_ids, free_ids) > len(prefix_ids)
