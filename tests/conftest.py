"""One real vLLM + LMCache stack for the whole test session, on free ports, always stopped.

End-to-end tests take the ``stack`` fixture; unit tests never start a server.
"""

import random
import shutil
import signal
import socket
import time

import pytest

from lab.settings import resolve
from serving import shm
from serving.launcher import Stack
from serving.settings import StackSettings


# Ports are handed out below the kernel's ephemeral range (32768-60999 on Linux), so no outgoing
# connection can take one between the pick and the server's bind. A fleet's instance i uses base + i,
# so each pick reserves a span of free ports and no two picks overlap.
_PORT_SPAN = 4
_handed_out: set[int] = set()
_rng = random.Random()


def free_port() -> int:
    """A base port whose next few ports (a fleet's instances) are free too, not handed out before."""
    for _ in range(1000):
        base = _rng.randrange(20000, 32768 - _PORT_SPAN, _PORT_SPAN)
        if base in _handed_out:
            continue
        if all(_bindable(base + i) for i in range(_PORT_SPAN)):
            _handed_out.add(base)
            return base
    raise RuntimeError("no free span of ports found in 20000-32767")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pytest_configure(config):
    # CI or a user may stop the suite with SIGTERM: turn it into KeyboardInterrupt so fixtures tear down.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_in_dev_shm():
    """At the end of the session, remove what servers killed during it left in /dev/shm: Python's
    multiprocessing segments and semaphores, and the LMCache pools of test stacks, once no live
    process uses them. Torn down last (autouse, session scope), after the shared stack is down."""
    started = time.time()
    yield
    removed = shm.remove_unreferenced(shm.created_since(started, (*shm.PYTHON_SEGMENTS, "*lmlab_pytest-*")))
    if removed:
        print(f"\nremoved {len(removed)} files that killed servers left in {shm.SHM}: {sorted(p.name for p, _ in removed)}")


_SESSION_STARTED = time.time()


def pytest_sessionfinish(session, exitstatus):
    """A green session removes the folders (logs only, once stopped) of the test stacks it started,
    which would otherwise pile up with every run; a failed one keeps them for the post-mortem."""
    if exitstatus != 0:
        return
    for folder in (StackSettings(name="pytest").state_dir.parent).glob("pytest-*"):
        if folder.stat().st_mtime >= _SESSION_STARTED and not (folder / "stack.json").exists():
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory) -> StackSettings:
    # Resolved, not constructed: the cpu profile picks the dtype this host runs fast (float32 where the
    # CPU has no bf16 kernels, 4-5x faster there), and the user's LMLAB_* variables stay out of the tests.
    return resolve(StackSettings, dict(
        name=f"pytest-{free_port()}",
        vllm_port=free_port(),
        lmcache_port=free_port(),
        lmcache_http_port=free_port(),
        kv_cache_gib=1,
        lmcache_l1_gib=1.0,
        disk_dir=str(tmp_path_factory.mktemp("lmcache-disk")),
    ), env={})


@pytest.fixture(scope="session")
def stack(stack_settings):
    """The shared stack: started once, stopped at the end of the session even when tests fail."""
    s = Stack(stack_settings)
    try:
        s.up()
        yield s
    finally:
        s.down()


@pytest.fixture(scope="session")
def layouts_run(stack, tmp_path_factory):
    """One layouts run on the shared stack (4 questions per layout, a 1,000-token manual), read by the
    layouts test and by the compare test's gate: (the finished process, its run folder)."""
    from tests.e2e.helpers import run_cli

    out = tmp_path_factory.mktemp("layouts-run")
    proc = run_cli("experiments.run_graph", "--scenario", "layouts", "--endpoint", stack.settings.endpoint, "--questions", "4",
                   "--repeats", "1", "--manual-tokens", "1000", "--max-tokens", "4", "--out", str(out))  # fmt: skip
    return proc, out


@pytest.fixture(scope="session")
def tiers_env(tmp_path_factory):
    """The environment of the tiers scenario's own stack (tiers and equivalence run on it with
    ``--keep-stack``): the tests of both modules that run them share one stack, stopped at the end."""
    from tests.e2e.helpers import own_stack_env, settings_from

    env = own_stack_env(tmp_path_factory.mktemp("tiers"))
    yield env
    with pytest.MonkeyPatch.context() as mp:
        Stack(settings_from(env, mp)).down(quiet=True)


@pytest.fixture(autouse=True)
def _revive_the_shared_stack(request):
    """vLLM's engine can die when a request is aborted while LMCache still moves its KV: an upstream
    race (vllm-project/vllm#43226, open), seen once in three full runs here. No test aborts a call
    on this stack any more (a run that uses it finishes the call in flight on Ctrl-C or SIGTERM;
    tests that kill servers or cut calls short get a stack of their own); should the engine still
    die, the tests after it get the shared stack restarted instead of a dead one."""
    if "stack" in request.fixturenames:
        stack = request.getfixturevalue("stack")
        if not stack.running():
            print(f"\nshared stack '{stack.settings.name}' was dead (see its logs in {stack.log_dir}); restarting it")
            stack.up()
    yield
