"""The agent scenario's figures and pass mark, and its charts, from made-up results rows (no server)."""

import pandas as pd

from experiments.analysis.charts import draw_charts
from experiments.scenarios.agent.scenario import Agent, agent_check, agent_comparison
from experiments.scenarios.base import ScenarioOptions
from graphs.context import Context

STATIC = 4101  # tokens of system text + manual: 16 chunks of 256 and a few
COLD_MS, HIT_MS = 6000.0, 300.0


def call(variant, session, q, node, cached, *, layout="shared_prefix", turn=None, t=0.0, prompt=4200):
    return {
        "scenario": "agent", "variant": variant, "session": session, "question_id": q, "node": node, "turn": turn,
        "layout": layout, "started_at": t, "ttft_ms": COLD_MS if cached < 0.9 * STATIC else HIT_MS,
        "total_ms": (COLD_MS if cached < 0.9 * STATIC else HIT_MS) + 500, "prompt_tokens": prompt,
        "static_prefix_tokens": STATIC, "cached_tokens": cached, "hit_rate": round(cached / prompt, 4),
        "device_hit_rate": 0.0, "lmcache_hit_rate": round(cached / prompt, 4), "shared_prefix_tokens": cached + 40,
        "fallback": "", "answer": "",
    }  # fmt: skip


def session_rows(variant, r, questions=2, *, retry_on=None, layout=None, turns=False) -> list[dict]:
    """One session as the stack answers it: shared_prefix is cold once, per_node_system once per node."""
    layout = layout or ("per_node_system" if variant == "per_node_system" else "shared_prefix")
    rows, seen, t = [], set(), 0.0
    session = f"agent-{variant}-r{r}"
    for q in range(questions):
        nodes = ["plan", "answer", "check"] + (["answer", "check"] if retry_on == q else [])
        for node in nodes:
            key = "all" if layout == "shared_prefix" else node
            cached = 4096 + (256 * q if turns else 0) if key in seen else 0
            seen.add(key)
            rows.append(call(variant, session, q, node, cached, layout=layout, turn=q + 1 if turns else None, t=t))
            t += 1
    return rows


def results(**changes) -> pd.DataFrame:
    rows = []
    for r in range(2):
        rows += session_rows("shared_prefix", r, retry_on=1 if r == 0 else None)
        rows += session_rows("per_node_system", r)
        rows += session_rows("followup_append", r, 3, turns=True)
    return pd.DataFrame(rows)


def test_the_comparison_counts_cold_calls_per_manual_and_times_each_question():
    c = agent_comparison(results())
    shared, per_node = c["variants"]["shared_prefix"], c["variants"]["per_node_system"]
    assert shared["cold_calls_per_manual"] == [1] and shared["first_call_cold_in_every_manual"]
    assert per_node["cold_calls_per_manual"] == [3]
    assert per_node["nodes"]["answer"]["min_cold_calls_per_manual"] == 1
    assert shared["retries"] == 1 and per_node["retries"] == 0
    # Question 1: one cold call and two hits, against three cold calls.
    assert shared["first_question_wall_median_ms"] == COLD_MS + 2 * HIT_MS + 3 * 500
    assert per_node["first_question_wall_median_ms"] == 3 * (COLD_MS + 500)
    assert c["first_question_speedup"] > 2
    assert shared["nodes"]["plan"]["ttft_median_ms"] == (COLD_MS + HIT_MS) / 2
    assert agent_check(c) is None


def test_follow_up_turns_show_the_cached_tokens_of_each_turn():
    turns = agent_comparison(results())["followups"]["followup_append"]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    assert [t["cached_tokens"] for t in turns] == [0, 4352, 4608]


def test_a_second_cold_call_under_shared_prefix_fails_the_pass_mark():
    df = results()
    later = (df["session"] == "agent-shared_prefix-r1") & (df["node"] == "check") & (df["question_id"] == 1)
    df.loc[later, "cached_tokens"] = 0  # e.g. evicted between the nodes
    failure = agent_check(agent_comparison(df))
    assert "shared_prefix: [1, 2] cold calls per manual, expected exactly 1" in failure


def test_a_per_node_system_node_that_hits_another_nodes_kv_fails_the_pass_mark():
    df = results()
    df.loc[(df["variant"] == "per_node_system") & (df["node"] == "check"), "cached_tokens"] = 4096
    failure = agent_check(agent_comparison(df))
    assert "node(s) check" in failure and "2.00x" not in failure


def test_a_first_question_less_than_twice_as_fast_fails_the_pass_mark():
    df = results()
    df.loc[df["variant"] == "shared_prefix", "total_ms"] += 4000
    assert "expected at least 2x" in agent_check(agent_comparison(df))


def test_both_layouts_are_needed():
    df = results()
    assert "needs both" in agent_check(agent_comparison(df[df["variant"] != "per_node_system"]))


def test_sessions_give_each_variant_and_repeat_its_own_manual_edition():
    opts = ScenarioOptions(run_id="run", questions=3, repeats=2, context=Context())
    sessions = Agent().sessions(opts)
    assert [s.name for s in sessions[:4]] == ["agent-shared_prefix-r0", "agent-per_node_system-r0",
                                              "agent-followup_append-r0", "agent-followup_rewrite-r0"]  # fmt: skip
    assert len({s.edition for s in sessions}) == 8 and {s.client.name for s in sessions} == {"agent"}
    assert [(s.context.agent_layout, s.context.conversation) for s in sessions[2:4]] == [
        ("shared_prefix", "append"), ("shared_prefix", "rewrite")]  # fmt: skip


def test_the_agent_charts_are_drawn_from_results_alone(tmp_path):
    written = dict(draw_charts(results(), tmp_path))
    for name in ("agent_waterfall.png", "agent_hit_rate_by_node.png", "followup_cached_tokens.png"):
        assert name in written and (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_runs_without_agent_rows_draw_no_agent_chart(tmp_path):
    df = results().assign(node="generate", turn=None)
    assert not {"agent_waterfall.png", "agent_hit_rate_by_node.png"} & set(dict(draw_charts(df, tmp_path)))
