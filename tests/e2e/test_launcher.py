"""The launcher: reuse, status, and nothing left behind after Ctrl-C, a stack that died without cleanup,
or servers killed with SIGKILL.

What it refuses, and how it says so, is in ``test_bad_input_catalogue.py``.
"""

import json
import signal

import psutil
import pytest

from lab.profile import cpu_dtype
from serving import shm
from serving.launcher import Stack
from tests.e2e.helpers import assert_nothing_left, own_stack_env, run_cli, settings_from, start_cli, wait_for

pytestmark = pytest.mark.e2e


def test_a_healthy_stack_is_reused(stack):
    assert Stack(stack.settings).up() is False
    assert all(row["healthy"] for row in stack.status())


def test_status_lists_every_service(stack):
    assert [row["service"] for row in stack.status()] == ["lmcache", "vllm"]


def test_the_shared_test_stack_serves_in_the_dtype_the_cpu_profile_picks_for_this_host(stack):
    # A directly constructed StackSettings skips the profile and gets bfloat16, which CPUs without bf16
    # kernels emulate: a cold 1.6k-token prompt took 48 s there instead of 11 s in float32.
    vllm = next(row for row in stack.status() if row["service"] == "vllm")
    cmdline = psutil.Process(vllm["pid"]).cmdline()
    assert cmdline[cmdline.index("--dtype") + 1] == cpu_dtype()


def test_ctrl_c_during_start_up_stops_what_was_started(tmp_path, monkeypatch):
    env = own_stack_env(tmp_path)
    settings = settings_from(env, monkeypatch)
    state = settings.state_dir / "stack.json"
    proc = start_cli("serving", "up", env=env)

    def services() -> list[dict]:
        return json.loads(state.read_text())["services"] if state.exists() else []

    # The state file names vllm_port from the start; wait for vLLM itself to be recorded as launched.
    wait_for(lambda: any(s["name"] == "vllm" for s in services()), 400, "vLLM to be launched")
    pids = [s["pid"] for s in services()]
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=240)
    assert proc.returncode == 130
    assert_nothing_left(settings, pids)


def test_a_stale_state_file_is_cleaned_up(tmp_path, monkeypatch):
    settings = settings_from(own_stack_env(tmp_path, LMLAB_LMCACHE="false"), monkeypatch)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "stack.json").write_text(json.dumps(
        {"settings": settings.as_dict(), "services": [{"name": "vllm", "argv": [], "port": 1, "health_url": "http://127.0.0.1:1/",
                                                       "pid": 999_999, "create_time": 1.0}]}))  # fmt: skip
    stack = Stack(settings)
    assert stack.running() is False
    assert stack.status()[0]["alive"] is False
    stack.down(quiet=True)
    assert_nothing_left(settings, [])


def test_down_removes_what_servers_killed_with_sigkill_left_in_dev_shm(tmp_path, monkeypatch):
    env = own_stack_env(tmp_path)
    settings = settings_from(env, monkeypatch)
    before = set(shm.SHM.iterdir())
    try:
        run = run_cli("experiments.run_graph", "--questions", "2", "--repeats", "1", "--manual-tokens", "600",
                      "--max-tokens", "4", "--keep-stack", "--out", str(tmp_path / "run"), env=env)  # fmt: skip
        assert run.returncode == 0, run.stderr
        leaders = [psutil.Process(s["pid"]) for s in json.loads((settings.state_dir / "stack.json").read_text())["services"]]
        family = [p for leader in leaders for p in [leader, *leader.children(recursive=True)]]
        held = {path for path in shm.held_by(p.pid for p in family) if path.exists()}
        assert any(p.name.startswith("psm_") for p in held), f"vLLM's multiprocessing segments: {held}"
        for p in family:  # vLLM (API server, engine, worker) and the LMCache server, as the OOM killer would
            p.kill()
        psutil.wait_procs(family, timeout=30)
        assert any(p.name.startswith("psm_") and p.exists() for p in held), "SIGKILL leaves them behind"
    finally:
        down = run_cli("serving", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert "shared-memory files the servers left" in down.stderr
    # /dev/shm after, against before: nothing the run's servers used is left. (Other sessions' servers
    # may add files meanwhile: only this stack's own count.)
    assert not (set(shm.SHM.iterdir()) - before) & held, "down removes what the killed servers held"
    assert_nothing_left(settings, [p.pid for p in family])
