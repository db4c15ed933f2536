"""Scenario registry. Adding a scenario: one module with a ``Scenario`` subclass, one entry here."""

from experiments.scenarios.base import Scenario, ScenarioOptions, Session
from experiments.scenarios.cold_hit import ColdHit, ColdHitLMCacheOnly
from experiments.scenarios.equivalence import Equivalence
from experiments.scenarios.hit_accounting import HitAccounting
from experiments.scenarios.layouts import Layouts
from experiments.scenarios.load import Load
from experiments.scenarios.overhead import Overhead
from experiments.scenarios.sharing import Sharing
from experiments.scenarios.sweep import Sweep
from experiments.scenarios.tiers import Tiers
from lab.errors import UserError

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [ColdHit(), ColdHitLMCacheOnly(), Layouts(), Tiers(), Sharing(), Equivalence(), Load(), Sweep(), Overhead(), HitAccounting()]}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UserError(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}") from None


__all__ = ["SCENARIOS", "Scenario", "ScenarioOptions", "Session", "get_scenario"]
