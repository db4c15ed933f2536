"""The soak scenario on a real stack of its own, briefly: it samples the servers while sessions run,
judges the series, draws them, and leaves nothing behind. (Its pass marks on drift are judged on a
full run, `make soak`; twenty seconds hold too few samples per window to judge a drift, which the run
says, with the figures, and passes.)"""

import json
import shutil

import pandas as pd
import pytest

from experiments.scenarios.soak.scenario import MIN_SAMPLES_PER_WINDOW
from tests.e2e.helpers import assert_nothing_left, own_stack_env, run_cli, settings_from

pytestmark = pytest.mark.e2e


def test_a_short_soak_samples_every_server_and_leaves_nothing_behind(tmp_path, monkeypatch):
    # The stack's own default disk folder (LMLAB_DISK_DIR empty), holding an earlier run's file: a
    # bounded tier never counts it, so the launcher empties that folder before LMCache starts.
    env = own_stack_env(tmp_path, LMLAB_DISK_DIR="")
    disk = settings_from(env, monkeypatch).disk_path
    disk.mkdir(parents=True, exist_ok=True)
    (disk / "earlier-run.bin").write_bytes(b"x" * 2**20)
    try:
        _short_soak(tmp_path, env, monkeypatch)
        assert not (disk / "earlier-run.bin").exists()
    finally:
        shutil.rmtree(disk, ignore_errors=True)


def _short_soak(tmp_path, env, monkeypatch):
    proc = run_cli("experiments.run_graph", "--scenario", "soak", "--duration", "20", "--concurrency", "2",
                   "--questions", "2", "--manual-tokens", "300", "--max-tokens", "2", "--out", str(tmp_path / "run"), env=env)  # fmt: skip
    # Twenty seconds: a tenth is 2 s, below MIN_SAMPLES_PER_WINDOW resource samples, so no drift is judged.
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "left behind" not in proc.stderr

    samples = pd.read_csv(tmp_path / "run" / "samples.csv")
    assert len(samples) >= 3
    assert {"vllm_rss_mib", "vllm_fds", "lmcache_rss_mib", "lmcache_fds", "disk_mib", "shm_used_mib"} <= set(samples.columns)
    assert (samples["vllm_rss_mib"] > 100).all() and (samples["vllm_fds"] > 0).all()

    judged = json.loads((tmp_path / "run" / "summary.json").read_text())["scenarios"]["soak"]
    assert any("too few samples" in line and "needed in each; not judged" in line for line in judged["headline"]), judged["headline"]
    soak = judged["comparison"]
    assert set(soak["rss_drift"]) == {"vllm", "lmcache"} and soak["left_behind"] == []
    assert min(soak["samples_per_window"]) < MIN_SAMPLES_PER_WINDOW
    assert soak["calls"] >= 4 and (tmp_path / "run" / "soak_over_time.png").is_file()
    assert_nothing_left(settings_from(env, monkeypatch), [])
