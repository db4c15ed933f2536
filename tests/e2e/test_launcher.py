"""The launcher: reuse, status, and nothing left behind after Ctrl-C or a stack that died without
cleanup (servers killed with SIGKILL: ``test_reliability.py``, after LMCache is killed mid-run).

What it refuses, and how it says so, is in ``test_bad_input_catalogue.py``.
"""

import json
import signal

import psutil
import pytest

from lab.profile import cpu_dtype
from serving.launcher import Stack
from tests.e2e.helpers import assert_nothing_left, own_stack_env, settings_from, start_cli, wait_for

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
