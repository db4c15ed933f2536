"""Hardware profiles: ``cpu`` (the default) and ``gpu``, chosen by ``LMLAB_PROFILE``.

A profile changes defaults only (``lab.settings`` applies them, below arguments and ``LMLAB_*``
variables). The gpu profile serves a real model as production does: vLLM's CUDA build with CUDA
graphs and its own prefix cache in GPU memory, LMCache inside vLLM as the tier behind it, a longer
context and a bigger manual. Sizes follow the machine: vLLM sizes its KV cache from
``gpu_memory_utilization`` (the card's memory), and LMCache's CPU tier is a share of the host's
memory. ``LMLAB_ENFORCE_EAGER=true`` starts faster; ``LMLAB_PREFIX_CACHING=false`` is the
LMCache-only measurement (every hit then comes from LMCache's CPU tier).
"""

from pathlib import Path

import psutil

# LMCache's CPU tier on gpu: a quarter of the host's memory, at least 2 GiB. It is pinned memory taken
# at start-up (31.5 GiB took about 30 s on the H200 machine), so it must leave room for vLLM itself,
# the harness and the OS.
HOST_MEMORY_SHARE = 0.25
MIN_CPU_TIER_GIB = 2.0
# CPU flags that give torch fast bf16 matrix kernels. Without them bf16 is emulated: on an AVX2-only
# EPYC here a bf16 matmul ran at 0.28 GFLOPS against 58.7 in float32, and a cold 3.9k-token prompt
# took 132 s in bfloat16 against 38 s in float32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_tier_gib(host_bytes: int | None = None) -> float:
    """LMCache CPU-tier size for a host with ``host_bytes`` of memory (this host's when None), GiB, one decimal."""
    total = psutil.virtual_memory().total if host_bytes is None else host_bytes
    return max(MIN_CPU_TIER_GIB, round(total * HOST_MEMORY_SHARE / 2**30, 1))


def cpu_flags() -> set[str]:
    """This host's CPU flags (``/proc/cpuinfo``); empty where that cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}


def cpu_dtype(flags: set[str] | None = None) -> str:
    """The dtype vLLM's CPU build runs fastest in on a host with these flags (this host's when None):
    bfloat16 where the CPU has bf16 instructions, else float32."""
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if any(f in flags for f in BF16_FLAGS) else "float32"


PROFILES: dict[str, dict[str, object]] = {
    "cpu": {
        # serving.settings.StackSettings
        "dtype": cpu_dtype(),
    },
    "gpu": {
        # serving.settings.StackSettings
        "max_model_len": 32768,
        "enforce_eager": False,  # CUDA graphs: a hit at 31k tokens ~40 ms faster (H100) for ~25 s more start-up
        "prefix_caching": True,  # vLLM's GPU cache serves repeats; LMCache serves what it evicted or never saw
        "gpu_memory_utilization": 0.90,
        "lmcache_l1_gib": cpu_tier_gib(),  # LMCache's CPU-memory tier inside vLLM (LMCACHE_MAX_LOCAL_CPU_SIZE)
        "disk_dir": "off",
        # graphs.context.Context
        "manual_tokens": 32000,
    },
}
