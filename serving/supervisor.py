"""Supervising server processes: start each in its own process group with its log, wait until it
answers (showing progress), and stop its group, or what is left of a group whose leader died."""

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

import httpx
import psutil
import redis
from rich.console import Console

from lab.errors import UserError
from serving.logs import log_complaint


@dataclass
class Service:
    """One server process: how to run it (from a recipe), and once started its PID and log."""

    name: str
    argv: list[str]
    port: int
    health_url: str
    env: dict[str, str] = field(default_factory=dict)  # never saved: it may hold the API key
    stdin: str = ""  # configuration fed on stdin at start, so no secret is on a command line; never saved
    secret: str = ""  # the password its health check sends (Redis); saved only in the 0600 state file
    pid: int | None = None
    create_time: float | None = None
    log: str = ""

    def process(self) -> psutil.Process | None:
        """The live process, or None when it has exited (or its PID now belongs to another process)."""
        if self.pid is None:
            return None
        try:
            proc = psutil.Process(self.pid)
            if proc.status() == psutil.STATUS_ZOMBIE or abs(proc.create_time() - (self.create_time or 0)) > 1:
                return None
            return proc
        except psutil.Error:
            return None

    def healthy(self) -> bool:
        if self.health_url.startswith("redis://"):
            return redis_answers(self.health_url, self.secret)
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def redis_answers(url: str, password: str = "") -> bool:
    try:
        client = redis.Redis.from_url(url, password=password or None, socket_timeout=2, socket_connect_timeout=2)
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def start(s: Service, log: str, env: dict[str, str]) -> None:
    """Launch ``s`` as the leader of a new process group, its output appended to ``log``."""
    s.log = log
    with open(log, "ab") as f:
        f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(s.argv)}\n".encode())
        f.flush()
        proc = subprocess.Popen(s.argv, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                stdin=subprocess.PIPE if s.stdin else subprocess.DEVNULL)  # fmt: skip
        if s.stdin:
            proc.stdin.write(s.stdin.encode())
            proc.stdin.close()
    s.pid = proc.pid
    s.create_time = psutil.Process(proc.pid).create_time()


def wait_healthy(s: Service, timeout: int, console: Console) -> None:
    """Wait until ``s`` answers, with a live elapsed-time line; a server that exits or stays silent
    past ``timeout`` is a UserError quoting its own complaint."""
    start_at = time.monotonic()
    with console.status(f"starting {s.name} on port {s.port} ...") as status:
        while True:
            elapsed = time.monotonic() - start_at
            if s.healthy():
                console.print(f"  {s.name} healthy after {elapsed:.0f} s (pid {s.pid}, port {s.port})")
                return
            if s.process() is None:
                raise UserError(
                    f"{s.name} exited during start-up: {log_complaint(s.log)}; check the settings it was started "
                    f"with (python -m serving settings); its full log: {s.log}"
                )
            if elapsed > timeout:
                raise UserError(
                    f"{s.name} was not healthy after {timeout} s; its log ends: {log_complaint(s.log)}; "
                    f"raise LMLAB_START_TIMEOUT_S on a slow machine; its full log: {s.log}"
                )
            status.update(f"starting {s.name} on port {s.port} ... {elapsed:.0f} s")
            time.sleep(1)


def group_members(pgid: int) -> list[psutil.Process]:
    """Every live process of process group ``pgid`` (a service's group keeps its PID as id)."""
    members = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and os.getpgid(p.pid) == pgid:
                members.append(p)
        except (psutil.Error, ProcessLookupError):
            pass
    return members


def family(s: Service) -> list[psutil.Process]:
    """The live processes of ``s``: its leader, the leader's descendants and what is left in its group."""
    procs = {p.pid: p for p in group_members(s.pid)} if s.pid is not None else {}
    if (proc := s.process()) is not None:
        try:
            procs |= {p.pid: p for p in [proc, *proc.children(recursive=True)]}
        except psutil.Error:
            pass
    return list(procs.values())


def stop(s: Service) -> bool:
    """Stop the group ``s`` leads, even when the leader is gone: a killed vLLM leaves its engine and
    worker processes running. True when the leader itself was still running."""
    proc = s.process()
    if proc is not None:
        _stop_group(proc)
        return True
    if s.pid is not None:
        _kill(group_members(s.pid), wait_s=10)
    return False


def _stop_group(proc: psutil.Process, grace_s: float = 20) -> None:
    """SIGTERM the process group (vLLM has an engine-core child), then SIGKILL what remains."""
    try:
        members = [proc, *proc.children(recursive=True)]
        os.killpg(proc.pid, signal.SIGTERM)
    except (psutil.Error, ProcessLookupError):
        return
    _, alive = psutil.wait_procs(members, timeout=grace_s)
    _kill(alive, wait_s=5)


def _kill(procs: list[psutil.Process], wait_s: float) -> None:
    """SIGKILL ``procs`` and wait for them to be gone."""
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=wait_s)
