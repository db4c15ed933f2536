"""Start, reuse, inspect and stop the local stack: LMCache's cache server, then vLLM.

The recipes (``serving.recipes``) say how each server is run, the supervisor (``serving.supervisor``)
starts and stops their process groups, ``serving.logs`` reads what they said. On top of them a
state file (``<state_dir>/stack.json``) records PIDs, ports and the settings that built the stack, so
a later command can reuse a healthy stack, notice a stale one and clean it up.
"""

import json
import os
import secrets
import socket
from dataclasses import asdict

import psutil
from rich.console import Console

from lab.settings import env_name, resolve
from lab.errors import UserError
from lab.exposure import require_key_off_loopback
from serving import shm, supervisor
from serving.disk import check_disk_folder, make_disk_folder
from serving.model import resolve_model_dir
from serving.recipes import SERVER_ENV, plan
from serving.settings import StackSettings
from serving.supervisor import Service, redis_answers

console = Console(stderr=True)


class Stack:
    """The stack described by ``settings``: ``up`` starts or reuses it, ``down`` stops it."""

    def __init__(self, settings: StackSettings | None = None):
        self.settings = settings or resolve(StackSettings)
        self.state_file = self.settings.state_dir / "stack.json"
        self.log_dir = self.settings.state_dir / "logs"

    # ----- state file -----
    def _load(self) -> tuple[dict, list[Service]] | None:
        if not self.state_file.is_file():
            return None
        try:
            data = json.loads(self.state_file.read_text())
            return data, [Service(**s) for s in data["services"]]
        except (ValueError, KeyError, TypeError):
            return {}, []

    def _save(self, services: list[Service]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        # Environments stay out of the state file: they may hold the API key.
        data = {"settings": self.settings.as_dict(), "services": [{**asdict(s), "env": {}, "stdin": ""} for s in services]}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        # 0600 from the first byte: it holds the generated Redis password.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.state_file)

    # ----- queries -----
    def status(self) -> list[dict]:
        """One row per recorded service: name, pid, port, alive, healthy, log."""
        loaded = self._load()
        if not loaded:
            return []
        return [
            {"service": s.name, "pid": s.pid, "port": s.port, "alive": s.process() is not None,
             "healthy": s.process() is not None and s.healthy(), "log": s.log}
            for s in loaded[1]
        ]  # fmt: skip

    def running(self) -> bool:
        """True when a stack with these exact settings is recorded and every service answers."""
        loaded = self._load()
        if not loaded or not loaded[1]:
            return False
        data, services = loaded
        return data.get("settings") == self.settings.as_dict() and all(s.process() and s.healthy() for s in services)

    # ----- lifecycle -----
    def up(self) -> bool:
        """Make the stack run. Returns True when this call started it, False when a healthy one was reused."""
        if self.running():
            console.print(f"[green]reusing the running stack '{self.settings.name}'[/] at {self.settings.endpoint}")
            return False
        if self._load() is not None:
            console.print(f"cleaning up stale or different stack '{self.settings.name}' before starting")
            self.down(quiet=True)
        self._preflight()
        model_dir = resolve_model_dir(self.settings.model_dir, log=console.print, hub_ids=self.settings.gpu)
        # A Redis the launcher starts always requires a password: generated here, known to LMCache
        # and to the state file only.
        redis_password = secrets.token_urlsafe(24) if self.settings.redis and not self.settings.redis_url else ""
        services = plan(self.settings, model_dir, redis_password)
        for i in range(self.settings.instances):
            if (disk := self.settings.instance_disk_path(i)) is not None:
                make_disk_folder(disk, self.settings.disk_gib, own=self.settings.disk_is_own, log=console.print)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started: list[Service] = []
        try:
            for wave in start_waves(services):
                for s in wave:
                    self._start(s)
                    started.append(s)
                    self._save(started)
                for s in wave:
                    self._wait_healthy(s)
        except BaseException:
            # A failed or interrupted start leaves nothing running behind it.
            self.down(quiet=True)
            raise
        console.print(f"[green]stack '{self.settings.name}' is up[/]: {self.settings.endpoint} (logs in {self.log_dir})")
        return True

    def _preflight(self) -> None:
        """Refuse, before anything starts, what cannot work or should not: servers open to the network
        without a key, busy ports, too little memory, a disk folder that cannot be written, a dead Redis."""
        require_key_off_loopback(self.settings.host, self.settings.api_key, "vLLM")
        for setting, port in self.settings.ports().items():
            _require_free_port(self.settings.host, port, setting)
        need = self.settings.memory_estimate_gib()
        have = psutil.virtual_memory().available / 2**30
        if need > have:
            kv = "" if self.settings.gpu else f" + KV {self.settings.kv_cache_gib} GiB"
            raise UserError(
                f"{self.settings.instances} instance(s) need about {need:.0f} GiB of memory "
                f"(3 GiB{kv} + LMCache L1 {self.settings.lmcache_l1_gib} GiB each) but {have:.1f} GiB is available; "
                f"lower {'' if self.settings.gpu else 'LMLAB_KV_CACHE_GIB / '}LMLAB_LMCACHE_L1_GIB or free memory"
            )
        for i in range(self.settings.instances):
            if (disk := self.settings.instance_disk_path(i)) is not None:
                check_disk_folder(disk, self.settings.disk_gib)
        if self.settings.redis and self.settings.redis_url and not redis_answers(self.settings.redis_url):
            raise UserError(f"Redis at {self.settings.redis_url} does not answer; start it or fix LMLAB_REDIS_URL")

    def _start(self, s: Service) -> None:
        supervisor.start(s, log=str(self.log_dir / f"{s.name}.log"), env={**os.environ, **SERVER_ENV, **s.env})

    def _wait_healthy(self, s: Service) -> None:
        supervisor.wait_healthy(s, self.settings.start_timeout_s, console)

    def down(self, quiet: bool = False) -> None:
        """Stop every recorded process group, remove the shared memory its servers used (LMCache's
        pools by name, what multiprocessing left behind by who held it) and the state file. Logs stay."""
        loaded = self._load()
        services = loaded[1] if loaded else []
        # Noted before stopping: what the servers map or hold open, and since when they run (a
        # killed server's files are no longer held by anyone, but were made after it started).
        held = shm.held_by(p.pid for s in services for p in supervisor.family(s))
        started = [s.create_time for s in services if s.create_time]
        for s in reversed(services):
            if supervisor.stop(s) and not quiet:
                console.print(f"  stopped {s.name} (pid {s.pid})")
        for pool in shm.SHM.glob(f"*{self.settings.shm_name}"):
            pool.unlink(missing_ok=True)
        for pool in shm.SHM.glob(f"*{self.settings.shm_name}_[0-9]*"):
            pool.unlink(missing_ok=True)
        left = held | (shm.created_since(min(started)) if started else set())
        removed = shm.remove_unreferenced(left)
        if removed and not quiet:
            mib = sum(size for _, size in removed) / 2**20
            console.print(f"  removed {len(removed)} shared-memory files the servers left in {shm.SHM} ({mib:.0f} MiB)")
        self.state_file.unlink(missing_ok=True)
        if not quiet:
            console.print(f"stack '{self.settings.name}' is down (logs kept in {self.log_dir})")


# The wave each kind starts in: a wave needs the one before it (LMCache needs Redis as its L2, the
# router its instances). vLLM starts beside its LMCache server: LMCacheMPConnector asks the server
# for its chunk size with a 300 s timeout (lmcache.mp.mq_timeout, LMCache 0.5.6), long after the
# server is up, so the two starts overlap (a quiet one-instance start: 35.5 s in turn, 31.7-34.0 s together).
START_WAVE = {"redis": 0, "lmcache": 1, "vllm": 1, "router": 2}


def start_waves(services: list[Service]) -> list[list[Service]]:
    """The services in waves that start together, in plan order within a wave; the stack waits for
    a wave to be healthy before it starts the next."""
    waves: dict[int, list[Service]] = {}
    for s in services:
        waves.setdefault(START_WAVE.get(s.name.split("-")[0], len(START_WAVE)), []).append(s)
    return [waves[k] for k in sorted(waves)]


def _require_free_port(host: str, port: int, setting: str) -> None:
    """``setting`` is a settings field, or "field + i" for instance i."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: a port whose last connections linger in TIME_WAIT is free for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            field, _, offset = setting.partition(" + ")
            fix = f"another base port (instance {offset} uses it + {offset})" if offset else "a free port"
            raise UserError(f"port {port} on {host} is already in use; stop whatever holds it or set {env_name(field)} to {fix}") from None
