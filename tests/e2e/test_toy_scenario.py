"""Adding a scenario is one package plus one registry line: a toy scenario, written here as a package
of its own, runs through run_graph, bench and report with no other edit."""

import json
import sys
import textwrap

import pytest

from experiments import bench, report, run_graph
from experiments.scenarios import SCENARIOS

pytestmark = pytest.mark.e2e

TOY_PACKAGE = '''
"""A toy scenario: two questions on a fresh manual, and a chart of its own."""

import pandas as pd

from experiments.analysis.plot import plt, save
from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario


def toy_chart(df: pd.DataFrame, out) -> str | None:
    rows = df[df["scenario"] == "toy"]
    if rows.empty:
        return None
    fig, ax = plt.subplots()
    ax.bar(range(len(rows)), rows["ttft_ms"])
    return save(fig, out, "toy_ttft.png")


class Toy(Scenario):
    name = "toy"
    description = "a toy: one cold call, one hit"
    bench_args = {{"endpoint": "{endpoint}", "questions": 2, "repeats": 1, "manual_tokens": 300, "max_tokens": 4}}
    baseline = "cold"
    charts = ((toy_chart, "Toy: TTFT per call"),)

    def sessions(self, opts):
        return Plan([question_session("toy-r0", 0, opts.questions, f"edition {{opts.run_id}}", opts.context)])

    def comparison(self, df, plan=None):
        return {{"calls": int((df["scenario"] == "toy").sum())}}
'''


@pytest.fixture
def toy(stack, tmp_path, monkeypatch):
    """The toy package on the import path, and its one registry line."""
    package = tmp_path / "pkgs" / "toy_scenario"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(TOY_PACKAGE.format(endpoint=stack.settings.endpoint)))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    from toy_scenario import Toy

    monkeypatch.setitem(SCENARIOS, Toy.name, Toy)  # the registry line
    monkeypatch.chdir(tmp_path)  # bench writes runs/ under the working folder
    yield Toy
    sys.modules.pop("toy_scenario", None)


def test_a_toy_scenario_runs_through_run_graph_bench_and_report(toy, stack, tmp_path):
    out = tmp_path / "run"
    code = run_graph.main(["--scenario", "toy", "--endpoint", stack.settings.endpoint, "--questions", "2", "--repeats", "1",
                           "--manual-tokens", "300", "--max-tokens", "4", "--out", str(out)])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenarios"]["toy"]["comparison"] == {"calls": 2}
    assert (out / "toy_ttft.png").is_file()
    assert "Toy: TTFT per call" in (out / "report.md").read_text()

    (out / "toy_ttft.png").unlink()
    assert report.main([str(out)]) == 0
    assert (out / "toy_ttft.png").is_file(), "report redraws the scenario's own chart"

    assert bench.main(["toy"]) == 0
    (bench_dir,) = (tmp_path / "runs").glob("bench-*")
    assert json.loads((bench_dir / "bench.json").read_text())["toy"]["exit_code"] == 0
    assert (bench_dir / "toy" / "toy_ttft.png").is_file()
