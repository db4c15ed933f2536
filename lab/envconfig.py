"""Settings dataclasses whose fields fall back to environment variables.

The pattern of LangChain's react-agent template: each field has a default and a description; a field
left at its default takes the value of the matching upper-case environment variable (with a prefix,
so ours never collide with vLLM's own ``VLLM_*`` variables), converted to the field's type.
"""

import dataclasses
import os
import typing
from pathlib import Path

from lab.errors import UserError

ENV_PREFIX = "LMLAB_"

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


def apply_env_defaults(obj) -> None:
    """Fill every field of ``obj`` still at its default from ``LMLAB_<FIELD>`` when that is set."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        if not field.init or getattr(obj, field.name) != field.default:
            continue
        name = env_name(field.name)
        raw = os.environ.get(name)
        if raw is not None and raw != "":
            setattr(obj, field.name, convert(raw, hints[field.name], name))


def describe(cls) -> list[tuple[str, str, object, str]]:
    """(field, env variable, default, description) for each field: used by ``--help`` texts and docs."""
    return [
        (f.name, env_name(f.name), f.default, f.metadata.get("description", ""))
        for f in dataclasses.fields(cls)
        if f.init
    ]
