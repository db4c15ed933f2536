"""Hardware profiles: ``cpu`` (the default) and ``gpu``, chosen by ``LMLAB_PROFILE``.

A profile changes defaults only (``lab.settings`` applies them, below arguments and ``LMLAB_*``
variables). The gpu profile serves a real model as production does: vLLM's CUDA build with CUDA
graphs and its own prefix cache in GPU memory, LMCache inside vLLM as the tier behind it, a longer
context and a bigger manual. Sizes follow the machine: vLLM sizes its KV cache from
``gpu_memory_utilization`` (the card's memory), and LMCache's CPU tier is a share of the host's
memory. ``LMLAB_ENFORCE_EAGER=true`` starts faster; ``LMLAB_PREFIX_CACHING=false`` is the
LMCache-only measurement (every hit then comes from LMCache's CPU tier).
"""

import psutil

# LMCache's CPU tier on gpu: a quarter of the host's memory, at least 2 GiB. It is pinned memory taken
# at start-up (31.5 GiB took about 30 s on the H200 machine), so it must leave room for vLLM itself,
# the harness and the OS.
HOST_MEMORY_SHARE = 0.25
MIN_CPU_TIER_GIB = 2.0


def cpu_tier_gib(host_bytes: int | None = None) -> float:
    """LMCache CPU-tier size for a host with ``host_bytes`` of memory (this host's when None), GiB, one decimal."""
    total = psutil.virtual_memory().total if host_bytes is None else host_bytes
    return max(MIN_CPU_TIER_GIB, round(total * HOST_MEMORY_SHARE / 2**30, 1))


PROFILES: dict[str, dict[str, object]] = {
    "cpu": {},
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
