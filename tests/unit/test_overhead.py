"""The harness-overhead scenario: its session plan, the ratios of medians, and the bare client's parsing."""

from dataclasses import asdict
from pathlib import Path

import httpx
import pandas as pd
import pytest

from clients.bare_stream import parse_sse_line, stream_chat
from clients.endpoint import Endpoint
from experiments.run.clients import SUFFIX
from experiments.run.plan import Session
from experiments.scenarios import ScenarioOptions
from experiments.scenarios.overhead import Overhead
from experiments.analysis.summary import median_ratio
from graphs.context import Context
from lab.errors import UserError
from prompts.layouts import dynamic_part

FIXTURES = Path(__file__).parent.parent / "fixtures"


def results(graph_cold, bare_cold, graph_hit, bare_hit, suffix) -> pd.DataFrame:
    rows = [(v, ms) for v, values in [("graph_cold", graph_cold), ("bare_cold", bare_cold), ("graph_hit", graph_hit),
                                      ("bare_hit", bare_hit), ("suffix_only", suffix)] for ms in values]  # fmt: skip
    return pd.DataFrame({"scenario": "overhead", "variant": [v for v, _ in rows], "ttft_ms": [ms for _, ms in rows]})


def test_every_repeat_runs_graph_bare_and_suffix_with_the_same_questions_in_alternating_order():
    opts = ScenarioOptions(run_id="run1", questions=3, repeats=2, context=Context(layout="timestamp_system"))
    sessions = Overhead().sessions(opts)
    assert [s.client.name for s in sessions] == ["graph", "bare", "suffix", "suffix", "bare", "graph"]
    graph, bare, suffix = sessions[:3]
    assert graph.questions == bare.questions == suffix.questions
    assert graph.variants == ["graph_cold", "graph_hit", "graph_hit"]
    assert bare.variants == ["bare_cold", "bare_hit", "bare_hit"]
    assert suffix.variants == ["suffix_only"] * 3
    assert graph.edition != bare.edition, "each path gets a fresh manual edition, so both first calls are cold"
    assert len({s.edition for s in sessions if s.client.name != "suffix"}) == 4
    assert all(s.context.layout == "manual_first" for s in sessions)


def test_ratios_compare_medians():
    df = results([10_000, 12_000, 11_000], [10_500, 11_000, 11_500], [400, 420, 500], [380, 400, 410], [100, 120, 110])
    assert median_ratio(df, "overhead", "graph_cold", "bare_cold") == round(11_000 / 11_000, 4)
    comparison = Overhead().comparison(df)
    assert comparison["harness_over_bare_cold"] == 1.0
    assert comparison["harness_over_bare_hit"] == round(420 / 400, 4)
    assert comparison["graph_hit_over_suffix_only"] == round(420 / 110, 4)
    assert comparison["bare_hit_ttft_median_ms"] == 400


def test_a_missing_variant_gives_no_ratio():
    df = results([10_000], [10_000], [400], [], [100])
    assert Overhead().comparison(df)["harness_over_bare_hit"] is None
    assert "overhead is unknown" in Overhead().check(Overhead().comparison(df), 0.05)


def test_the_overhead_gate_is_off_unless_asked_for():
    slow = Overhead().comparison(results([12_000], [10_000], [400], [400], [100]))
    assert Overhead().check(slow, None) is None
    assert "on cold calls is 1.200, above the allowed 1.05" in Overhead().check(slow, 0.05)
    assert Overhead().check(Overhead().comparison(results([10_200], [10_000], [410], [400], [100])), 0.05) is None


def test_recorded_overhead_run_gives_the_ratios_quoted_in_the_readme():
    # The default run (3 repeats x 5 questions, 4000-token manual) on the shared 2-core machine.
    comparison = Overhead().comparison(pd.read_csv(FIXTURES / "overhead_results.csv"))
    assert comparison["harness_over_bare_cold"] == 1.0897
    assert comparison["harness_over_bare_hit"] == 1.0757
    assert comparison["graph_hit_over_suffix_only"] == 4.3366
    assert comparison["suffix_only_ttft_median_ms"] < comparison["graph_hit_ttft_median_ms"] < comparison["graph_cold_ttft_median_ms"]


def test_sse_lines_are_parsed_and_done_is_skipped():
    assert parse_sse_line('data: {"choices": []}') == {"choices": []}
    assert parse_sse_line("data: [DONE]") is None
    assert parse_sse_line("") is None


def test_bare_client_times_the_first_chunk_and_reads_usage_from_the_last():
    # A stream recorded from the real vLLM server, replayed: the first chunk carries only the role.
    recorded = (FIXTURES / "chat_stream.txt").read_bytes()
    sent = []

    def replay(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=recorded, headers={"content-type": "text/event-stream"})

    with httpx.Client(transport=httpx.MockTransport(replay)) as client:
        result = asdict(stream_chat(client, Endpoint(url="http://vllm/v1", model="m"), [{"role": "user", "content": "q"}], max_tokens=6, temperature=0))
    assert result["answer"] == "The pass statement in Python is"
    assert (result["prompt_tokens"], result["completion_tokens"], result["cached_tokens"]) == (37, 6, 0)
    assert 0 <= result["ttft_ms"] <= result["total_ms"]
    assert result["response_id"] == "chatcmpl-95dc9e7334c5cabb"  # what LMCache's log lines are joined on
    assert sent[0].url == "http://vllm/v1/chat/completions"
    assert b'"include_usage":true' in sent[0].content.replace(b" ", b"")


def test_bare_client_refusal_is_a_user_error():
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(404, text="no such model"))) as client:
        with pytest.raises(UserError, match="refused the call \\(404\\)"):
            stream_chat(client, Endpoint(url="http://vllm/v1", model="m"), [], max_tokens=1, temperature=0)


def test_the_paths_are_interleaved_call_by_call_and_the_order_flips():
    class RecordingRun:
        """Stands in for the runner: logs which session makes each call instead of calling a server."""

        log: list[tuple[str, int]] = []

        def calls(self, session):
            for i in range(len(session.questions)):
                self.log.append((session.client.name, i))
                yield {}

    run = RecordingRun()
    opts = ScenarioOptions(run_id="run1", questions=2, repeats=2, context=Context())
    Overhead().run(Overhead().sessions(opts), run)
    assert run.log == [
        ("graph", 0), ("bare", 0), ("suffix", 0), ("suffix", 1), ("bare", 1), ("graph", 1),  # repeat 0
        ("suffix", 0), ("bare", 0), ("graph", 0), ("graph", 1), ("bare", 1), ("suffix", 1),  # repeat 1
    ]  # fmt: skip


def test_suffix_only_sends_the_question_without_the_manual():
    session = Session("s", 0, ["What is x?", "What is y?"], ["suffix_only"] * 2, "", Context(), client=SUFFIX)
    prompts = list(SUFFIX.prompts(session))
    assert prompts == [(0, [{"role": "user", "content": dynamic_part("What is x?")}], 0),
                       (1, [{"role": "user", "content": dynamic_part("What is y?")}], 0)]  # fmt: skip
