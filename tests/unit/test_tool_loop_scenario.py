"""The tool_loop scenario's pass mark, table and chart, from made-up rows (results.csv's columns).

A later turn keeps to the mark when its uncached tokens are at most its new tokens plus one unit of
the cache in front: a vLLM block (128 on cpu) with vLLM's prefix cache, an LMCache chunk without it."""

from dataclasses import replace

import pandas as pd

from experiments.scenarios import SCENARIOS
from experiments.scenarios.tool_loop.analysis import checks, judged, per_turn
from experiments.scenarios.tool_loop.chart import uncached_per_turn
from experiments.scenarios.tool_loop.scenario import DEFAULT_ALLOWANCE, ToolLoop, allowance_of, config_settings
from metrics.records import CallRecord, columns
from serving.settings import StackSettings

ALLOWANCE = {"lmcache_256": 256, "lmcache_128": 128, "vllm_prefix": 128}


def turn_row(config: str, turn: int, new: int, uncached: int, question: int = 0, device: int = 0) -> dict:
    prompt = 4000 + 150 * turn
    return CallRecord(scenario="tool_loop", variant=config, session=f"tool_loop-{config}-r0", question_id=question, node="call_model",
                      turn=turn, prompt_tokens=prompt, new_tokens=new, cached_tokens=prompt - uncached, uncached_tokens=uncached,
                      device_hit_tokens=device, lmcache_hit_tokens=prompt - uncached - device).row()  # fmt: skip


def run_rows(uncached_later: dict[str, int]) -> pd.DataFrame:
    """Per configuration, a cold first turn and three later turns of 150 new tokens each."""
    rows = []
    for config, later in uncached_later.items():
        rows.append(turn_row(config, 1, 4000, 4000))
        rows += [turn_row(config, t, 150, later) for t in (2, 3, 4)]
    return pd.DataFrame(rows, columns=columns())


def test_later_turns_within_new_tokens_plus_one_unit_pass():
    df = run_rows({"lmcache_256": 150 + 255, "lmcache_128": 150 + 128, "vllm_prefix": 150 + 100})
    assert checks(df, ALLOWANCE) == []
    assert judged(df, ALLOWANCE)["within"].all()


def test_a_later_turn_one_token_past_its_unit_fails_and_is_named():
    df = run_rows({"lmcache_256": 150 + 200, "lmcache_128": 150 + 129, "vllm_prefix": 150 + 100})
    (failure,) = checks(df, ALLOWANCE)
    assert failure.startswith("lmcache_128: 3 of 3 later turns") and "turn 2: 279 uncached, 150 new" in failure


def test_the_first_turn_of_a_question_is_never_judged():
    df = run_rows({"lmcache_256": 150, "lmcache_128": 150, "vllm_prefix": 150})
    assert set(judged(df, ALLOWANCE)["turn"]) == {2, 3, 4}


def test_a_configuration_without_later_turns_fails():
    df = run_rows({"lmcache_256": 150, "lmcache_128": 150})
    assert checks(df, ALLOWANCE) == ["vllm_prefix: no later turns recorded"]


def test_the_table_has_every_turn_per_configuration_with_its_sources():
    df = pd.DataFrame([turn_row("vllm_prefix", 2, 150, 200, device=3840), turn_row("vllm_prefix", 1, 4000, 4000)], columns=columns())
    rows = per_turn(df, ALLOWANCE)
    assert [(r["config"], r["turn"], r["within"]) for r in rows] == [("vllm_prefix", 1, None), ("vllm_prefix", 2, "1/1")]
    assert rows[1]["device_hit_tokens"] == 3840 and rows[1]["worst_excess"] == 50
    table = ToolLoop().report_rows({"turns": rows})
    assert table[1]["vLLM device"] == "3,840" and table[1]["within"] == "1/1" and table[0]["within"] == "-"


def test_the_summary_and_check_speak_per_configuration():
    df = run_rows({"lmcache_256": 300, "lmcache_128": 150 + 129, "vllm_prefix": 200})
    comparison = ToolLoop().comparison(df)
    assert comparison["allowance"] == DEFAULT_ALLOWANCE, "rebuilt from results.csv alone: the cpu defaults"
    lines = ToolLoop().summary_lines(comparison)
    assert "at most 150 tokens beyond their new ones (allowed 256)" in lines[0]
    assert ToolLoop().check(comparison, None).startswith("lmcache_128:")


def test_the_three_configurations_and_their_allowances():
    base = replace(StackSettings(), **ToolLoop.stack_overrides(None, "cpu"))
    configs = {c: config_settings(base, c) for c in ("lmcache_256", "lmcache_128", "vllm_prefix")}
    assert [(s.chunk_size, s.prefix_caching) for s in configs.values()] == [(256, False), (128, False), (256, True)]
    assert len({s.name for s in configs.values()}) == 3 and len({s.vllm_port for s in configs.values()}) == 1, "one at a time"
    assert [allowance_of(s) for s in configs.values()] == [256, 128, 128]
    assert allowance_of(replace(configs["vllm_prefix"], profile="gpu")) == 16
    assert SCENARIOS["tool_loop"] is ToolLoop


def test_the_chart_is_drawn_from_the_rows(tmp_path):
    assert uncached_per_turn(run_rows({"lmcache_256": 300, "vllm_prefix": 200}), tmp_path) == "tool_loop_uncached_per_turn.png"
    assert (tmp_path / "tool_loop_uncached_per_turn.png").is_file()
    assert uncached_per_turn(pd.DataFrame(columns=columns()), tmp_path) is None


def test_each_configuration_gets_its_own_session_on_its_own_stack_and_chunk():
    from experiments.run.stacks import Stacks
    from experiments.scenarios.base import ScenarioOptions
    from graphs.context import Context

    base = replace(StackSettings(), **ToolLoop.stack_overrides(None, "cpu"))
    plan = ToolLoop().sessions(ScenarioOptions(run_id="t", questions=2, repeats=1, context=Context(), stacks=Stacks(base)))
    assert [s.variants for s in plan] == [["lmcache_256"] * 2, ["lmcache_128"] * 2, ["vllm_prefix"] * 2]
    assert [s.context.chunk_size for s in plan] == [256, 128, 256]
    assert len({s.edition for s in plan}) == 3 and {s.client.name for s in plan} == {"tool_loop"}
    assert plan.allowance == {"lmcache_256": 256, "lmcache_128": 128, "vllm_prefix": 128}
    assert all(s.context.endpoint.startswith(f"http://{base.host}:{base.vllm_port}") for s in plan)


def test_report_md_has_the_headline_lines_and_the_per_turn_table():
    from experiments.analysis.report import results_section

    df = run_rows({"lmcache_256": 300, "lmcache_128": 200, "vllm_prefix": 200})
    comp = ToolLoop().comparison(df)
    text = "\n".join(results_section(df, {"scenarios": {"tool_loop": {"comparison": comp, "headline": ToolLoop().summary_lines(comp)}}}))
    assert "- lmcache_128: later turns computed at most 50 tokens beyond their new ones (allowed 128)" in text
    assert "tool_loop: details" in text and "| vllm_prefix | 2 | 1 | 150 |" in text
