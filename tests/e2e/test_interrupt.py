"""Ctrl-C during a run of the main job that started its own stack: results kept, servers stopped."""

import csv
import json
import signal

import pytest

from tests.e2e.helpers import assert_nothing_left, own_stack_env, settings_from, start_cli, wait_for

pytestmark = pytest.mark.e2e


def test_ctrl_c_keeps_finished_calls_and_stops_the_stack_it_started(tmp_path, monkeypatch):
    env = own_stack_env(tmp_path)
    settings = settings_from(env, monkeypatch)
    out = tmp_path / "run"
    proc = start_cli("experiments.run_graph", "--questions", "4", "--repeats", "2", "--manual-tokens", "600",
                     "--max-tokens", "2", "--out", str(out), env=env)  # fmt: skip
    results = out / "results.csv"
    wait_for(lambda: results.exists() and len(results.read_text().splitlines()) >= 2, 900, "the first call")
    pids = [s["pid"] for s in json.loads((settings.state_dir / "stack.json").read_text())["services"]]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "finished calls are kept" in err and "Traceback" not in err
    rows = list(csv.DictReader(results.open()))
    assert 1 <= len(rows) < 8 and rows[0]["variant"] == "cold"
    assert_nothing_left(settings, pids)
