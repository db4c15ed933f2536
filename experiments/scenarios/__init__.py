"""Scenario registry. Adding a scenario: one module with a ``Scenario`` subclass, one entry here."""

from experiments.scenarios.agent import Agent
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.scenarios.capacity import Capacity
from experiments.scenarios.cold_hit import ColdHit, ColdHitLMCacheOnly
from experiments.scenarios.equivalence import Equivalence
from experiments.scenarios.fleet import FleetScenario
from experiments.scenarios.hit_accounting import HitAccounting
from experiments.scenarios.layouts import Layouts
from experiments.scenarios.load import Load
from experiments.scenarios.overhead import Overhead
from experiments.scenarios.sharing import Sharing
from experiments.scenarios.soak import Soak
from experiments.scenarios.sweep import Sweep
from experiments.scenarios.tiers import Tiers
from lab.registry import lookup

SCENARIOS: dict[str, type[Scenario]] = {s.name: s for s in [ColdHit, ColdHitLMCacheOnly, Layouts, Tiers, Sharing, Equivalence, Load, Sweep,
                                                            Overhead, Soak, Agent, Capacity, HitAccounting, FleetScenario]}


def scenario_class(name: str) -> type[Scenario]:
    return lookup(SCENARIOS, name, "scenario")


def create(name: str, **options) -> Scenario:
    """A fresh scenario for one run (``options``: e.g. ``concurrency``)."""
    return scenario_class(name)(**options)


__all__ = ["SCENARIOS", "Scenario", "ScenarioOptions", "create", "scenario_class"]
