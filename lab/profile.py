"""Hardware profiles: ``cpu`` (the default) and ``gpu``, chosen by ``LMLAB_PROFILE``.

A profile changes defaults only. The gpu profile serves a real model as production does: vLLM's
CUDA build with CUDA graphs and its own prefix cache in GPU memory, LMCache inside vLLM as the tier
behind it, a longer context and a bigger manual. Sizes follow the machine: vLLM sizes its KV cache
from ``gpu_memory_utilization`` (the card's memory), and LMCache's CPU tier is a share of the host's
memory. A value the caller passes or sets through ``LMLAB_<FIELD>`` still wins over the profile's
default: ``LMLAB_ENFORCE_EAGER=true`` for a faster start, ``LMLAB_PREFIX_CACHING=false`` for the
LMCache-only measurement (every hit then comes from LMCache's CPU tier).
"""

import dataclasses
import os

import psutil

from lab.envconfig import env_name
from lab.errors import UserError

# LMCache's CPU tier on gpu: a quarter of the host's memory, at least 2 GiB. It is pinned memory taken
# at start-up, so it must leave room for vLLM itself (a few GiB), the harness and the OS.
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
        "enforce_eager": False,  # CUDA graphs: a 31k-token hit ~40 ms faster on an H100 for ~2 s more start-up
        "prefix_caching": True,  # vLLM's GPU cache serves repeats; LMCache serves what it evicted or never saw
        "gpu_memory_utilization": 0.90,
        "lmcache_l1_gib": cpu_tier_gib(),  # LMCache's CPU-memory tier inside vLLM (LMCACHE_MAX_LOCAL_CPU_SIZE)
        "disk_dir": "off",
        # graphs.context.Context
        "manual_tokens": 32000,
    },
}


def check_profile(name: str) -> str:
    name = name.strip().lower()
    if name not in PROFILES:
        raise UserError(f"{env_name('profile')}={name!r} is not a profile; use one of {', '.join(PROFILES)}")
    return name


def active_profile() -> str:
    """The profile ``LMLAB_PROFILE`` names (cpu when unset)."""
    return check_profile(os.environ.get(env_name("profile"), "") or "cpu")


def apply_profile_defaults(obj, profile: str) -> None:
    """Give every field of ``obj`` still at its default, and not set by ``LMLAB_<FIELD>``, the profile's value."""
    defaults = PROFILES[check_profile(profile)]
    for f in dataclasses.fields(obj):
        if f.name in defaults and getattr(obj, f.name) == f.default and not os.environ.get(env_name(f.name)):
            setattr(obj, f.name, defaults[f.name])
