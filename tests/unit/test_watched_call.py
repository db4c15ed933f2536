"""A call in flight watches the LMCache server: its death stops the run within seconds, not after
vLLM's engine gives up on the stuck request (5 min). Otherwise the call behaves as if run here."""

import contextvars
import threading
import time

import pytest

from clients.measured import watched
from graphs.context import Context
from lab.errors import ServerGone
from tests.conftest import free_port

PARENT_RUN = contextvars.ContextVar("parent_run", default=None)


def test_a_call_stuck_on_a_dead_lmcache_server_stops_at_the_next_check():
    url = f"http://127.0.0.1:{free_port()}"  # nothing answers there: the server has died
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ServerGone, match=f"the LMCache server at {url} stopped answering"):
        watched(Context(lmcache_metrics_url=url).server, lambda: release.wait(60), every_s=0.2)
    release.set()
    assert time.monotonic() - started < 5


def test_a_finished_call_returns_its_result_and_sees_the_callers_context():
    PARENT_RUN.set("trace-1")
    url = f"http://127.0.0.1:{free_port()}"
    assert watched(Context(lmcache_metrics_url=url).server, lambda: {"parent": PARENT_RUN.get()}) == {"parent": "trace-1"}


def test_a_failed_call_raises_its_own_error_in_the_callers_thread():
    def fails():
        raise ValueError("broken stream")

    with pytest.raises(ValueError, match="broken stream"):
        watched(Context(lmcache_metrics_url=f"http://127.0.0.1:{free_port()}").server, fails)


def test_without_an_lmcache_server_the_call_runs_in_this_thread():
    assert watched(Context(lmcache_metrics_url="").server, lambda: threading.current_thread().name) == threading.current_thread().name
