"""``experiments.compare`` on real runs: two runs of the same configuration pass its gate, and a real
regression made for the test (a cache-busting layout against the cache-friendly one) trips it."""

import pytest

from tests.e2e.helpers import assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e


def run_graph(stack, out, *extra):
    proc = run_cli(
        "experiments.run_graph", "--endpoint", stack.settings.endpoint, "--manual-tokens", "1000", "--max-tokens", "4",
        "--out", str(out), *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_two_runs_of_one_configuration_pass_the_gate(stack, tmp_path):
    # Three sessions of two questions: three cold calls and three hits a run, enough for an interval.
    small = ("--questions", "2", "--repeats", "3", "--expect-reduction", "0")
    a, b = run_graph(stack, tmp_path / "a", *small), run_graph(stack, tmp_path / "b", *small)
    # The same configuration on a shared machine: load may slow a run, never by 100% on every call.
    proc = run_cli("experiments.compare", str(a), str(b), "--fail-if-slower", "1", "--out", str(tmp_path / "cmp"))
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| cold_hit | cold | 3/3 |" in md and "| cold_hit | hit | 3/3 |" in md
    assert "Same manual, model, settings and versions." in md and "Gate `--fail-if-slower 1`: PASS" in md
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 10_000


def test_a_cache_busting_layout_against_the_friendly_one_trips_the_gate(layouts_run, tmp_path):
    proc, run = layouts_run  # the session's one layouts run (tests/conftest.py): 4 questions per layout
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("experiments.compare", str(run), "--pair", "manual_first:instructions_first",
                   "--fail-if-slower", "0.5", "--out", str(tmp_path / "cmp"))  # fmt: skip
    line = assert_one_line_error(proc, "more than 50% slower", "layouts/manual_first → instructions_first", code=1)
    assert "slower" in proc.stdout
    md = (tmp_path / "cmp" / "compare.md").read_text()
    # Questions 2..4 of each session: three hits against three recomputed prompts.
    assert "| layouts | manual_first → instructions_first | 3/3 |" in md and "FAIL" in md, (line, md)


def test_a_folder_that_is_no_run_is_one_line_and_exit_2(tmp_path):
    proc = run_cli("experiments.compare", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "cmp"))
    assert_one_line_error(proc, "is not a run folder")
    assert not (tmp_path / "cmp").exists()
