"""Helpers for end-to-end tests: run the project's CLIs as a user would, watch files appear, make
throw-away stacks and check that nothing of them is left."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from lab.settings import resolve
from serving.settings import StackSettings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None, timeout: float = 1200) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` from the repo root, capturing output. On timeout the command gets
    Ctrl-C first, so servers it started are stopped before the test fails."""
    proc = start_cli(*args, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"{' '.join(args)} did not finish in {timeout} s; stderr tail: {err[-2000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str, code: int = 2) -> str:
    """A user error: the expected exit code, one ``error:`` line on stderr, no traceback."""
    err = proc.stderr.strip()
    assert proc.returncode == code, f"exit {proc.returncode}, stderr: {err[-2000:]}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def own_stack_env(tmp_path: Path, **extra) -> dict:
    """Environment for a throw-away stack that cannot collide with the shared test stack."""
    port = free_port()
    return {
        "LMLAB_NAME": f"pytest-own-{port}", "LMLAB_VLLM_PORT": str(port), "LMLAB_LMCACHE_PORT": str(free_port()),
        "LMLAB_LMCACHE_HTTP_PORT": str(free_port()), "LMLAB_KV_CACHE_GIB": "1", "LMLAB_LMCACHE_L1_GIB": "0.5",
        "LMLAB_DISK_DIR": str(tmp_path / "disk"), **extra,
    }  # fmt: skip


def settings_from(env: dict, monkeypatch) -> StackSettings:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return resolve(StackSettings)


def assert_nothing_left(settings: StackSettings, pids: list[int]) -> None:
    assert not (settings.state_dir / "stack.json").exists()
    assert not list(Path("/dev/shm").glob(f"*{settings.shm_name}*")), "shared-memory pool left behind"
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"pid {pid} left"
