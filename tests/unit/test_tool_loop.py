"""The tool-loop graph without a server: its prompts, how a reply picks a section, and how each turn
appends to the conversation, on the served model's real tokenizer and chat template (local folder)."""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from graphs.context import Context
from graphs.tool_loop_state import ToolLoopState
from nodes.tool_question import after_call, finish_question, next_question, start_question
from nodes.tool_result import run_tool
from prompts.layouts import static_prefix
from prompts.prefix_analysis import common_prefix_len
from prompts.tokenizers import LocalTokenizer
from prompts.tool_loop import chosen_title, policy_title, tool_call_text, tool_task
from serving.model import resolve_model_dir

MANUAL = "\n\n".join(f"## {t}\n\n{t} explained. " + "Details. " * 40 for t in ["assert", "assignment", "for", "while"])
TITLES = ["assert", "assignment", "for", "while"]


def state(**more) -> ToolLoopState:
    return ToolLoopState(questions=["How does a for loop work?"], manual=MANUAL, static_prefix=static_prefix(MANUAL, "e1"), **more)


def test_the_task_lists_the_sections_and_asks_for_json():
    task = tool_task("How does a for loop work?", TITLES)
    assert task.startswith("Question: How does a for loop work?")
    assert '{"tool": "find_section", "title": "assert"}' in task and "assert, assignment, for, while." in task


def test_a_reply_naming_a_section_is_the_call():
    assert chosen_title('{"tool": "find_section", "title": "While"}', TITLES, "q?", []) == ("while", "")
    assert chosen_title('Sure! {"title": "asert"}', TITLES, "q?", []) == ("assert", "")


@pytest.mark.parametrize(("reply", "why"), [("I think loops.", "no title in the reply"), ('{"title": "lambda"}', "no section like 'lambda'")])  # fmt: skip
def test_any_other_reply_falls_back_to_the_policy_and_says_why(reply, why):
    title, fallback = chosen_title(reply, TITLES, "What does the while statement do?", [])
    assert title == "while" and fallback == f"policy: {why}"


def test_the_policy_takes_related_sections_first_then_the_manuals_order_never_one_twice():
    q = "What does the while statement do?"
    assert policy_title(TITLES, q, []) == "while"
    assert policy_title(TITLES, q, ["while"]) == "assert"
    assert policy_title(TITLES, q, TITLES) == "while", "all fetched: start again"
    assert policy_title([], q, []) is None
    assert tool_call_text("for") == 'find_section("for")'


def test_a_question_opens_with_the_task_alone_and_each_turn_appends_a_call_and_its_result():
    s = replace(state(), **start_question(state()))
    assert s.titles == TITLES and len(s.history) == 1 and s.turn == 0
    s = replace(s, turn=1, reply='{"title": "for"}', title="for")
    s = replace(s, **run_tool(s))
    assert [m["role"] for m in s.history] == ["user", "assistant", "tool"]
    assert s.history[1]["content"] == '{"title": "for"}', "the reply exactly as it streamed"
    assert s.history[2]["content"].startswith("## for\n\nfor explained.") and s.fetched == ["for"]


def test_turns_run_until_the_last_then_the_next_question():
    runtime = SimpleNamespace(context=Context(tool_turns=3))
    assert after_call(state(turn=2, title="for"), runtime) == "run_tool"
    assert after_call(state(turn=3, title="for"), runtime) == "finish_question"
    assert after_call(state(turn=1, title=None), runtime) == "finish_question", "a manual without sections: nothing to fetch"
    done = replace(state(), **finish_question(state()))
    assert next_question(done) == "__end__" and next_question(state()) == "start_question"


def test_on_smollm2s_template_every_turns_prompt_starts_with_the_whole_previous_prompt():
    tok = LocalTokenizer(resolve_model_dir(log=lambda *a: None))
    s = replace(state(), **start_question(state()))
    prompts = []
    for turn, title in enumerate(["for", "while", "assert"], 1):
        prompts.append(tok.chat_ids([{"role": "system", "content": s.static_prefix}, *s.history]))
        s = replace(s, turn=turn, reply=f'{{"title": "{title}"}}', title=title)
        s = replace(s, **run_tool(s))
    for before, after in zip(prompts, prompts[1:]):
        assert common_prefix_len(before, after) == len(before)
        assert 50 < len(after) - len(before) < 400, "a turn adds its call and one section's result"


def test_the_graph_makes_every_turn_over_the_previous_prompt_with_a_cache_that_stores_whole_chunks(monkeypatch):
    """The whole graph, with the server replaced: the local tokenizer renders the prompts, and a fake
    stream answers like a model that never names a section and a cache that serves the whole 256-token
    chunks of the previous prompt, so the pass mark's arithmetic is seen end to end."""
    from clients.endpoint import Endpoint
    from clients.stream_result import StreamResult
    from experiments.scenarios.tool_loop.analysis import checks
    from graphs.tool_loop import graph
    import pandas as pd
    from metrics.records import columns

    tok = LocalTokenizer(resolve_model_dir(log=lambda *a: None))
    monkeypatch.setattr(Endpoint, "max_model_len", lambda self: tok.context_len)
    monkeypatch.setattr(Endpoint, "tokenize_chat", lambda self, m, add_generation_prompt: tok.chat_ids(m, add_generation_prompt))
    monkeypatch.setattr(Endpoint, "detokenize", lambda self, ids: tok.decode(ids))
    monkeypatch.setattr(Endpoint, "scrape_metrics", lambda self: None)
    seen: list[int] = []

    def stream(self, endpoint, messages):
        n = len(tok.chat_ids(messages))
        cached = seen[-1] // 256 * 256 if seen else 0
        seen.append(n)
        return StreamResult(started_at=0.0, ttft_ms=1.0, total_ms=2.0, prompt_tokens=n, cached_tokens=cached, answer="I would look.")

    monkeypatch.setattr("nodes.tool_call.ChatStreamer.__call__", stream)
    ctx = Context(manual_tokens=600, tool_turns=3)
    out = graph.invoke({"questions": ["What does the assert statement do?"], "manual_edition": "e1"}, context=ctx)
    calls = out["calls"]
    assert [c.turn for c in calls] == [1, 2, 3] and {c.node for c in calls} == {"call_model"}
    assert all(c.fallback == "policy: no title in the reply" and c.tool_call.startswith("find_section(") for c in calls)
    assert calls[0].tool_call == 'find_section("assert")', "the policy takes the section the question names"
    for before, after in zip(calls, calls[1:]):
        assert after.shared_prefix_tokens == before.prompt_tokens, "the whole previous prompt is the new one's prefix"
        assert after.new_tokens == after.prompt_tokens - before.prompt_tokens
        assert after.uncached_tokens == after.prompt_tokens - after.cached_tokens
    df = pd.DataFrame([{**c.row(), "scenario": "tool_loop", "variant": "lmcache_256"} for c in calls], columns=columns())
    assert checks(df, {"lmcache_256": 256}) == []
