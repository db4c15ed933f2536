"""The size sweep and the harness-overhead scenarios, end to end on the real stack, with small sizes."""

import csv
import json

import pytest

from tests.e2e.helpers import assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e


def read_run(out):
    rows = list(csv.DictReader((out / "results.csv").open()))
    return rows, json.loads((out / "summary.json").read_text())


def test_sweep_cold_grows_with_the_manual_and_hits_stay_flat(stack, tmp_path):
    proc = run_cli(
        "experiments.run_graph", "--scenario", "sweep", "--endpoint", stack.settings.endpoint, "--questions", "2",
        "--repeats", "1", "--max-tokens", "4", "--expect-reduction", "0", "--out", str(tmp_path),
        env={"LMLAB_SWEEP_SIZES": "300,600,1200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ms per 1k prompt tokens" in proc.stdout

    rows, summary = read_run(tmp_path)
    assert [(r["session"], r["variant"]) for r in rows] == [
        (f"sweep-{size}-r0", variant) for size in (300, 600, 1200) for variant in ("cold", "hit")
    ]
    cold = [r for r in rows if r["variant"] == "cold"]
    hits = [r for r in rows if r["variant"] == "hit"]
    assert [int(r["prompt_tokens"]) for r in cold] == sorted(int(r["prompt_tokens"]) for r in cold), "each size is larger"
    assert all(int(r["cached_tokens"]) == 0 for r in cold)
    assert all(int(r["lmcache_hit_tokens"]) > 0 for r in hits)

    comparison = summary["scenarios"]["sweep"]["comparison"]
    assert [s["size"] for s in comparison["sizes"]] == [300, 600, 1200]
    assert comparison["cold_slope_ms_per_1k_tokens"] > 0
    assert comparison["hit_slope_ms_per_1k_tokens"] < comparison["cold_slope_ms_per_1k_tokens"]
    # Every row carries its manual's size, so the chart draws from the run's own results.csv.
    sizes = [int(r["manual_tokens"]) for r in cold]
    assert sizes == sorted(set(sizes)) and all(0 < got <= budget for got, budget in zip(sizes, (300, 600, 1200)))
    assert (tmp_path / "ttft_vs_manual_tokens.png").is_file()


def test_overhead_times_the_same_calls_through_the_graph_and_a_bare_client(stack, tmp_path):
    proc = run_cli(
        "experiments.run_graph", "--scenario", "overhead", "--endpoint", stack.settings.endpoint, "--questions", "2",
        "--repeats", "1", "--manual-tokens", "800", "--max-tokens", "4", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "harness/bare TTFT" in proc.stdout

    rows, summary = read_run(tmp_path)
    by = {(r["variant"], r["question_id"]): r for r in rows}
    assert {r["variant"] for r in rows} == {"graph_cold", "graph_hit", "bare_cold", "bare_hit", "suffix_only"}
    for question, kind in [("0", "cold"), ("1", "hit")]:
        graph, bare = by[(f"graph_{kind}", question)], by[(f"bare_{kind}", question)]
        assert graph["prompt_tokens"] == bare["prompt_tokens"], "the same messages on both paths"
        assert float(graph["ttft_ms"]) > 0 and float(bare["ttft_ms"]) > 0
    assert int(by[("bare_cold", "0")]["lmcache_hit_tokens"]) == 0
    assert int(by[("bare_hit", "1")]["lmcache_hit_tokens"]) > 0, "bare rows carry the cache-source columns too"
    assert all(int(r["prompt_tokens"]) < 100 for r in rows if r["variant"] == "suffix_only")

    comparison = summary["scenarios"]["overhead"]["comparison"]
    assert comparison["harness_over_bare_cold"] > 0 and comparison["harness_over_bare_hit"] > 0
    cold = min(comparison["graph_cold_ttft_median_ms"], comparison["bare_cold_ttft_median_ms"])
    assert comparison["suffix_only_ttft_median_ms"] < cold


def test_sweep_refuses_sizes_that_cannot_fit_before_any_call(stack, tmp_path):
    args = ["experiments.run_graph", "--scenario", "sweep", "--endpoint", stack.settings.endpoint, "--out", str(tmp_path)]
    too_big = run_cli(*args, "--manual-tokens", "9000")
    assert_one_line_error(too_big, "largest manual (9000 tokens) does not fit", "--manual-tokens")
    assert_one_line_error(run_cli(*args, env={"LMLAB_SWEEP_SIZES": "512,big"}), "LMLAB_SWEEP_SIZES")
    assert not (tmp_path / "results.csv").exists()
