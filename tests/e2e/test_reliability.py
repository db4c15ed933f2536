"""Faults and load on the real stack: nothing measured is lost, nothing is left running, no secret leaks."""

import csv
import json
import signal
import subprocess
import time
import uuid

import psutil
import pytest

from serving import shm
from serving.launcher import Stack
from tests.e2e.helpers import (assert_nothing_left, assert_one_line_error, own_stack_env, run_cli, settings_from,
                               start_cli, wait_for)  # fmt: skip

pytestmark = pytest.mark.e2e


def rows(out) -> list[dict]:
    return list(csv.DictReader((out / "results.csv").open()))


def test_concurrent_sessions_hit_the_cache_without_errors(stack, tmp_path):
    proc = run_cli("experiments.run_graph", "--scenario", "load", "--endpoint", stack.settings.endpoint,
                   "--concurrency", "3", "--questions", "3", "--manual-tokens", "600", "--max-tokens", "4",
                   "--expect-reduction", "0.5", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(rows(tmp_path)) == 9
    summary = json.loads((tmp_path / "summary.json").read_text())
    load = summary["scenarios"]["load"]["comparison"]
    assert summary["errors"] == []
    assert load["next_hit_rate_mean"] >= 0.5 and load["throughput_calls_per_s"] > 0
    assert load["ttft_p95_ms"] >= load["ttft_p50_ms"]
    # Under concurrency the per-call source split is left empty; the run's totals carry it.
    assert all(r["lmcache_hit_tokens"] == "" for r in rows(tmp_path))
    assert summary["run_cache_totals"]["lmcache_hit_tokens"] > 0


def test_vllm_killed_mid_run_then_resume_completes_only_what_is_missing(tmp_path, monkeypatch):
    secret = f"sk-lab-{uuid.uuid4().hex}"
    env = own_stack_env(tmp_path, LMLAB_API_KEY=secret)
    settings = settings_from(env, monkeypatch)
    out = tmp_path / "run"
    args = ["experiments.run_graph", "--questions", "3", "--repeats", "2", "--manual-tokens", "600",
            "--max-tokens", "4", "--expect-reduction", "0.3", "--out", str(out)]  # fmt: skip
    try:
        proc = start_cli(*args, env=env)
        wait_for(lambda: (out / "results.csv").exists() and len(rows(out)) >= 2, 900, "two finished calls")
        vllm = next(s for s in json.loads((settings.state_dir / "stack.json").read_text())["services"] if s["name"] == "vllm")
        psutil.Process(vllm["pid"]).kill()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        assert "Traceback" not in err and [line for line in err.splitlines() if line.startswith("error:")]
        kept = rows(out)
        assert len(kept) >= 2

        resumed = run_cli("experiments.run_graph", "--resume", str(out), "--keep-stack", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert f"({len(kept)} calls already done)" in resumed.stdout
        final = rows(out)
        assert len(final) == 6 and final[: len(kept)] == kept, "finished calls are kept, not redone"
        assert len({(r["session"], r["question_id"]) for r in final}) == 6
        assert set(json.loads((out / "summary.json").read_text())["scenarios"]["cold_hit"]["variants"]) == {"cold", "hit"}

        # The server requires the key: a client without it is refused with a clear line.
        no_key = run_cli("experiments.run_graph", "--endpoint", settings.endpoint, "--out", str(tmp_path / "nokey"),
                         env={"LMLAB_API_KEY": ""})  # fmt: skip
        assert_one_line_error(no_key, "refused the API key", "LMLAB_API_KEY")

        # No secret in the run folder, the state file or any server log.
        for path in [*out.rglob("*"), *settings.state_dir.rglob("*")]:
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), f"the API key leaked into {path}"
    finally:
        Stack(settings).down(quiet=True)


def test_lmcache_killed_mid_run_stops_the_run_and_no_row_claims_a_hit_it_did_not_get(tmp_path, monkeypatch):
    """Then the rest of the stack is killed with SIGKILL too, as the OOM killer would: ``serving down``
    removes the shared-memory files the killed servers left in /dev/shm."""
    env = own_stack_env(tmp_path)
    settings = settings_from(env, monkeypatch)
    out = tmp_path / "run"
    before = set(shm.SHM.iterdir())
    down = None
    try:
        proc = start_cli("experiments.run_graph", "--questions", "3", "--repeats", "3", "--manual-tokens", "600",
                         "--max-tokens", "4", "--keep-stack", "--out", str(out), env=env)  # fmt: skip
        wait_for(lambda: (out / "results.csv").exists() and len(rows(out)) >= 2, 900, "two finished calls")
        services = {s["name"]: s for s in json.loads((settings.state_dir / "stack.json").read_text())["services"]}
        family = [p for name in ("lmcache", "vllm") for p in [psutil.Process(services[name]["pid"])]
                  + psutil.Process(services[name]["pid"]).children(recursive=True)]  # fmt: skip
        held = {path for path in shm.held_by(p.pid for p in family) if path.exists()}
        assert any(p.name.startswith("psm_") for p in held), f"vLLM's multiprocessing segments: {held}"
        killed_at = time.time()
        psutil.Process(services["lmcache"]["pid"]).kill()
        stdout, stderr = proc.communicate(timeout=600)
        # Whether or not the kill caught a call in flight, the run stops at the next check of the
        # LMCache server, long before vLLM's engine would give up on a stuck call (300 s).
        assert time.time() - killed_at < 120

        line = assert_one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                                     "the LMCache server at", "stopped answering", f"--resume {out}")  # fmt: skip
        kept = rows(out)
        assert f"{len(kept)} finished calls are kept in {out / 'results.csv'}" in line
        assert len(kept) >= 2 and kept[0]["variant"] == "cold" and int(kept[1]["lmcache_hit_tokens"]) > 0
        after_kill = [r for r in kept if float(r["started_at"]) + float(r["total_ms"]) / 1000 > killed_at]
        assert all(r["lmcache_hit_tokens"] in ("", "0") for r in after_kill), "a row claims LMCache hits after the kill"

        # The stack was kept: its status says the LMCache server is dead.
        status = run_cli("serving", "status", env=env)
        assert status.returncode == 1 and "lmcache" in status.stdout and "False" in status.stdout
        assert next(r for r in Stack(settings).status() if r["service"] == "lmcache")["alive"] is False
        assert Stack(settings).running() is False

        for p in family:  # what is left of it: vLLM's API server, engine and worker
            if p.is_running():
                p.kill()
        psutil.wait_procs(family, timeout=30)
        assert any(p.name.startswith("psm_") and p.exists() for p in held), "SIGKILL leaves them behind"
        down = run_cli("serving", "down", env=env)
    finally:
        Stack(settings).down(quiet=True)
    assert down.returncode == 0, down.stderr
    assert "shared-memory files the servers left" in down.stderr
    # /dev/shm after, against before: nothing the killed servers held is left. (Other sessions' servers
    # may add files meanwhile: only this stack's own count.)
    assert not (set(shm.SHM.iterdir()) - before) & held, "down removes what the killed servers held"
    assert_nothing_left(settings, [p.pid for p in family])


def test_sigterm_during_a_run_keeps_results(stack, tmp_path):
    proc = start_cli("experiments.run_graph", "--endpoint", stack.settings.endpoint, "--questions", "4", "--repeats", "2",
                     "--manual-tokens", "600", "--max-tokens", "2", "--out", str(tmp_path))  # fmt: skip
    wait_for(lambda: (tmp_path / "results.csv").exists() and len(rows(tmp_path)) >= 1, 400, "the first call")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "finished calls are kept" in err
    assert len(rows(tmp_path)) >= 1
    # The server is shared (--endpoint): the call in flight was finished, not aborted, so an abort
    # racing LMCache's transfer (vllm-project/vllm#43226) could not take the stack down.
    assert "stopping after the call in flight" in err
    assert stack.running(), "the shared stack survives a SIGTERM to a run that uses it"
