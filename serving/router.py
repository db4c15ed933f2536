"""Switching a running fleet's routing policy by restarting its router alone.

The router keeps no state the lab relies on (the KV lives in the instances and LMCache), so a fleet
that differs only by policy need not restart its vLLM instances: ``switch_policy`` stops the
recorded router, starts one with the new policy and records the stack under the new settings.
Anything else that differs is ``Stack.up()``'s job (it replaces the whole stack).
"""

from serving import supervisor
from serving.launcher import Stack
from serving.recipes import router
from serving.settings import StackSettings


def switch_policy(settings: StackSettings) -> bool:
    """Make the fleet recorded under ``settings.name`` route with ``settings.router``, restarting
    only its router. True when the fleet now runs with exactly ``settings``; False when the recorded
    stack differs in more than the policy or is not healthy (nothing was touched then)."""
    stack = Stack(settings)
    loaded = stack._load()
    if not loaded or not loaded[1] or not settings.router:
        return False
    data, services = loaded
    recorded = data.get("settings") or {}
    if not recorded.get("router") or {**recorded, "router": settings.router} != settings.as_dict():
        return False
    old = next((s for s in services if s.name == "router"), None)
    if old is None or not all(s.process() and s.healthy() for s in services if s is not old):
        return False
    if recorded["router"] == settings.router and old.process() and old.healthy():
        return True
    supervisor.stop(old)
    new = router(settings)
    stack._start(new)
    services = [new if s is old else s for s in services]
    stack._save(services)
    try:
        stack._wait_healthy(new)
    except BaseException:
        stack.down(quiet=True)  # a router that will not start leaves nothing of the fleet behind
        raise
    return True

