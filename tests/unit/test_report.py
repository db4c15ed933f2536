"""Charts and report.md rebuilt from a run folder alone (a recorded real run, and made-up layout and sweep rows)."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis.charts import draw_charts
from experiments.report import main, write_report
from lab.errors import UserError

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "run_cold_hit"


@pytest.fixture
def run_dir(tmp_path) -> Path:
    for f in RECORDED.iterdir():
        shutil.copy(f, tmp_path)
    return tmp_path


def test_report_of_a_cold_hit_run(run_dir):
    report = write_report(run_dir).read_text()
    assert report.startswith("# Run 20261127-075344-fa9fb6")
    assert "**96.5% lower** (expected at least 70%: PASS)" in report
    assert "| cold_hit | hit | 12 | 503 |" in report
    for chart in ("ttft_cold_vs_hit.png", "hit_rate_by_layout.png", "ttft_per_question.png"):
        assert f"]({chart})" in report
        assert (run_dir / chart).read_bytes()[:4] == b"\x89PNG"
    assert "| lmcache | 0.5.6 |" in report and "| endpoint | http://127.0.0.1:8100/v1 |" in report
    # No sweep in this run: no chart against the manual's size.
    assert not (run_dir / "ttft_vs_manual_tokens.png").exists()


def test_report_names_the_langfuse_session(run_dir):
    summary = (run_dir / "summary.json").read_text().rstrip().rstrip("}")
    tracing = {
        "enabled": True,
        "base_url": "https://cloud.langfuse.com",
        "session_id": "run-7",
        "tags": ["cold_hit", "cold", "hit"],
    }
    (run_dir / "summary.json").write_text(summary + ', "tracing": ' + json.dumps(tracing) + "}")
    report = write_report(run_dir).read_text()
    assert "session **`run-7`**" in report and "`cold_hit`, `cold`, `hit`" in report


def layout_and_sweep_rows() -> pd.DataFrame:
    rows = []
    for layout, rate in [("manual_first", 0.98), ("instructions_first", 0.03)]:
        for q in range(4):
            hit = rate if q else 0.0
            rows.append({
                "scenario": "layouts", "variant": layout, "session": layout, "question_id": q, "layout": layout,
                "ttft_ms": 400 if hit > 0.5 else 9000, "prompt_tokens": 4000, "cached_tokens": int(4000 * hit),
                "hit_rate": hit, "device_hit_rate": 0.0, "lmcache_hit_rate": hit,
            })  # fmt: skip
    for size in (1000, 2000, 4000):
        for q, variant in enumerate(["cold", "hit"]):
            rows.append({
                "scenario": "sweep", "variant": variant, "session": f"s{size}", "question_id": q,
                "layout": "manual_first", "manual_tokens": size, "prompt_tokens": size,
                "ttft_ms": 3.5 * size if q == 0 else 200, "cached_tokens": size if q else 0,
                "hit_rate": 0.98 if q else 0.0, "device_hit_rate": None, "lmcache_hit_rate": None,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_every_chart_is_drawn_when_the_rows_allow(tmp_path):
    written = draw_charts(layout_and_sweep_rows(), tmp_path)
    assert [name for name, _ in written] == [
        "ttft_cold_vs_hit.png", "hit_rate_by_layout.png", "ttft_per_question.png", "ttft_vs_manual_tokens.png",
    ]  # fmt: skip


def test_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(UserError, match="has no results.csv"):
        write_report(tmp_path)
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "results.csv" in err


def test_a_csv_that_is_not_a_results_table_is_a_clear_error(tmp_path):
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="lacks the columns"):
        write_report(tmp_path)
