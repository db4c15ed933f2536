"""Every setting is resolved here, once, by one rule (highest first):

1. an argument (a command-line flag, or a value a caller passes);
2. the ``LMLAB_<FIELD>`` environment variable, converted to the field's type;
3. a scenario's own override (a stack name and ports of its own, say);
4. the profile's default (``lab/profile.py``: ``cpu`` or ``gpu``, chosen by ``LMLAB_PROFILE``);
5. the field's own default.

The settings classes themselves (``serving.settings.StackSettings``, ``graphs.context.Context``)
are plain frozen dataclasses: constructing one reads no environment, so an object handed to the
graph never changes behind its back. ``resolve`` builds them; ``sources`` says where each value
came from, for ``python -m serving settings`` and the run's summary.
"""

import dataclasses
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from lab.errors import UserError
from lab.profile import PROFILES

T = TypeVar("T")

ENV_PREFIX = "LMLAB_"
ARGUMENT, DEFAULT = "argument", "default"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def convert(raw: str, kind: type, name: str):
    """Convert an environment string to ``kind``, or raise a UserError naming the variable."""
    text = raw.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise UserError(f"{name}={raw!r} is not a boolean; use one of true/false, 1/0, yes/no, on/off")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"{name}={raw!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is Path:
        return Path(text).expanduser()
    return raw


def check_profile(name: str) -> str:
    name = name.strip().lower()
    if name not in PROFILES:
        raise UserError(f"{env_name('profile')}={name!r} is not a profile; use one of {', '.join(PROFILES)}")
    return name


def active_profile(given: Mapping | None = None, env: Mapping | None = None) -> str:
    """The profile an argument names, else ``LMLAB_PROFILE``, else cpu."""
    env = os.environ if env is None else env
    return check_profile(str((given or {}).get("profile") or env.get(env_name("profile"), "") or "cpu"))


def resolve_with_sources(
    cls: type[T],
    given: Mapping | None = None,
    *,
    env: Mapping | None = None,
    overrides: Mapping | None = None,
    overrides_source: str = "scenario",
    profile: str | None = None,
) -> tuple[T, dict[str, str]]:
    """``cls`` built by the rule above, and each field's source (``argument``, the variable's name,
    ``overrides_source``, ``profile <name>`` or ``default``). A ``None`` argument counts as not given."""
    env = os.environ if env is None else env
    given = {k: v for k, v in (given or {}).items() if v is not None}
    overrides = overrides or {}
    profile = profile or active_profile(given, env)
    profile_defaults = PROFILES[profile]
    hints = typing.get_type_hints(cls)
    values, sources = {}, {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        var = env_name(f.name)
        if f.name in given:
            values[f.name], sources[f.name] = given[f.name], ARGUMENT
        elif env.get(var, "") != "":
            values[f.name], sources[f.name] = convert(env[var], hints[f.name], var), var
        elif f.name in overrides:
            values[f.name], sources[f.name] = overrides[f.name], overrides_source
        elif f.name in profile_defaults:
            values[f.name], sources[f.name] = profile_defaults[f.name], f"profile {profile}"
        else:
            sources[f.name] = DEFAULT
    if "profile" in hints:
        values["profile"] = profile
    return cls(**values), sources


def resolve(cls: type[T], given: Mapping | None = None, **kwargs) -> T:
    """``cls`` built by the rule above (see ``resolve_with_sources``)."""
    return resolve_with_sources(cls, given, **kwargs)[0]


def describe(cls) -> list[tuple[str, str, object, str]]:
    """(field, environment variable, default, description) for each field: help texts and docs."""
    return [
        (f.name, env_name(f.name), f.default, f.metadata.get("description", ""))
        for f in dataclasses.fields(cls)
        if f.init
    ]


def with_resolved_defaults(cls: type[T], env: Mapping | None = None) -> type[T]:
    """A subclass of ``cls`` whose field defaults are the values ``resolve`` gives now, each
    description saying where its value came from. LangGraph Studio builds the run's Context from the
    fields a user filled in (``cls(**inputs)``), so this is how ``LMLAB_*`` and the profile reach a
    Studio run, and how Studio's form shows the values a run will really use."""
    obj, sources = resolve_with_sources(cls, env=env)
    spec = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        source = sources[f.name]
        note = "" if source == DEFAULT else f" (default here from {source})"
        meta = {**f.metadata, "description": f.metadata.get("description", "") + note}
        spec.append((f.name, f.type, dataclasses.field(default=getattr(obj, f.name), metadata=meta)))
    params = getattr(cls, "__dataclass_params__")
    return dataclasses.make_dataclass(cls.__name__, spec, bases=(cls,), frozen=params.frozen, kw_only=True)


def resolve_params(cls: type[T], given: Mapping | None = None, *, env: Mapping | None = None) -> tuple[T, dict[str, str]]:
    """A scenario's parameters (a frozen dataclass of its own ``LMLAB_*`` knobs) by the rule above,
    with each field's source. A field whose metadata holds ``parse`` (text -> value) reads its
    variable through it, for values richer than a scalar (a list of sizes, a grid of cells), each
    refused with its own one-line message."""
    env = os.environ if env is None else env
    given = {k: v for k, v in (given or {}).items() if v is not None}
    parsed = {}
    for f in dataclasses.fields(cls):
        var = env_name(f.name)
        if "parse" in f.metadata and f.name not in given and env.get(var, "") != "":
            parsed[f.name] = f.metadata["parse"](env[var])
    obj, sources = resolve_with_sources(cls, {**parsed, **given}, env=env)
    return obj, {**sources, **{name: env_name(name) for name in parsed}}


def restore(cls: type[T], saved: Mapping) -> T:
    """``cls`` rebuilt from its ``dataclasses.asdict`` as JSON kept it (lists back to tuples)."""

    def tuples(v):
        return tuple(tuples(x) for x in v) if isinstance(v, list) else v

    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: tuples(v) for k, v in saved.items() if k in names})


def as_text(value) -> str:
    """A setting's value as its ``LMLAB_*`` variable would spell it: a tuple comma-separated, a pair
    colon-joined (``round_robin:none``)."""
    if isinstance(value, tuple):
        return ",".join(":".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
    return str(value)
