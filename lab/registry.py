"""Name -> thing tables (scenarios, prompt layouts, ...): one lookup with one error for an unknown name."""

from collections.abc import Mapping
from typing import TypeVar

from lab.errors import UserError

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, what: str) -> T:
    """``table[name]``, or a UserError listing the valid names (``what`` is their kind, e.g. "layout")."""
    try:
        return table[name]
    except KeyError:
        raise UserError(f"unknown {what} {name!r}; valid {what}s: {', '.join(table)}") from None
