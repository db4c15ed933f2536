"""Who can reach a server: loopback only, or the network. Off loopback a server needs a key.

The stack's launcher and ``make studio`` (``lab.studio``, before it starts LangGraph's API) refuse a
non-loopback LMLAB_HOST while LMLAB_API_KEY is empty.
"""

import ipaddress

from lab.errors import UserError


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name or address (0.0.0.0 included) can be
    reached from other machines."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_key_off_loopback(host: str, api_key: str, what: str) -> None:
    """Refuse to expose ``what`` on a non-loopback ``host`` without an API key."""
    if not api_key and not is_loopback(host):
        raise UserError(
            f"LMLAB_HOST={host!r} is not a loopback address, so {what} would answer anyone on the network; "
            "set LMLAB_API_KEY to a secret of your own (clients send the same LMLAB_API_KEY), or bind 127.0.0.1"
        )

