"""A scenario's comparison on the console is tables and short lines, never a JSON dump."""

import io
from pathlib import Path

import pandas as pd
from rich.console import Console

from experiments import run_graph
from experiments.analysis.comparison_view import cell, comparison_view
from experiments.run.experiment import RunResult
from experiments.scenarios import SCENARIOS


def shown(name: str, comparison: dict) -> str:
    console = Console(file=io.StringIO(), width=200)
    tables, lines = comparison_view(name, comparison)
    for renderable in (*tables, *lines):
        console.print(renderable)
    return console.file.getvalue()


def test_figures_are_one_table_counts_in_full_and_fractions_to_four_digits():
    text = shown("overhead", {"graph_cold_ttft_median_ms": 1338.4, "harness_over_bare_hit": 1.01171, "device_hit_tokens": 31024.0,
                              "verified": True, "missing": float("nan")})  # fmt: skip
    assert "overhead: figures" in text
    assert "1,338" in text and "1.012" in text and "31,024" in text and "yes" in text and "-" in text
    assert "{" not in text


def test_like_records_are_rows_of_one_table():
    text = shown("tiers", {"cold_ttft_median_ms": 1356.1, "vllm_cache": {"ttft_median_ms": 145.4, "ttft_vs_cold": 0.1072},
                           "lmcache_l1": {"ttft_median_ms": 223.0, "ttft_vs_cold": 0.1644}})  # fmt: skip
    assert "tiers: vllm_cache, lmcache_l1" in text
    row = next(line for line in text.splitlines() if "lmcache_l1" in line and "223" in line)
    assert "0.1644" in row


def test_a_single_small_mapping_is_flattened_and_a_short_list_stays_on_one_line():
    text = shown("soak", {"rss_drift": {"vllm": 0.012}, "disk_mib_first_last": [10.0, 12.5], "left_behind": []})
    assert "rss_drift.vllm" in text and "0.012" in text and "10, 12.5" in text and "none" in text


def test_a_list_of_records_is_a_table_and_deeper_nesting_is_named_not_dumped():
    comparison = {"differences": [{"tier": "lmcache_l1", "position": 3}], "variants": {"shared_prefix": {"nodes": {"plan": {"calls": 3}}}}}
    text = shown("agent", comparison)
    assert "agent: differences" in text and "lmcache_l1" in text
    assert "in summary.json (agent's comparison): variants" in text and "nodes" not in text


def test_cell_spells_lists_and_missing_values():
    assert (cell([1, 2.5]), cell(None), cell(12_000)) == ("1, 2.5", "-", "12,000")


def test_the_agent_run_summary_ends_without_a_dump(monkeypatch, tmp_path):
    agent = SCENARIOS["agent"]()
    comparison = {"variants": {"shared_prefix": {"cold_calls_per_manual": 1, "question_wall_median_ms": 900.0, "first_question_wall_median_ms": 2000.0,
                                                 "retries": 0, "fallbacks": 0, "nodes": {}}},
                  "first_question_speedup": 2.5, "followups": {}}  # fmt: skip
    summary = {"scenarios": {"agent": {"prediction_mismatches": 0}}, "elapsed_s": 3}
    result = RunResult(Path(tmp_path), "id", agent, summary, pd.DataFrame(columns=["variant"]), comparison, None, None, tmp_path / "report.md")
    console = Console(file=io.StringIO(), width=200)
    monkeypatch.setattr(run_graph, "console", console)
    run_graph.print_summary(result)
    text = console.file.getvalue()
    assert "first_question_speedup" in text and '{"' not in text and "{'" not in text
