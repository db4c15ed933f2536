"""Hardware profiles: ``cpu`` (the default) and ``gpu``, chosen by ``LMLAB_PROFILE``.

A profile changes defaults only. The gpu profile serves a real model with vLLM's CUDA build and
LMCache inside vLLM, so it wants a longer context, a bigger LMCache CPU tier and a bigger manual. A
value the caller passes or sets through ``LMLAB_<FIELD>`` still wins over the profile's default.
"""

import dataclasses
import os

from lab.envconfig import env_name
from lab.errors import UserError

PROFILES: dict[str, dict[str, object]] = {
    "cpu": {},
    "gpu": {
        # serving.settings.StackSettings
        "max_model_len": 32768,
        "lmcache_l1_gib": 20.0,  # LMCache's CPU-memory tier inside vLLM (LMCACHE_MAX_LOCAL_CPU_SIZE)
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
