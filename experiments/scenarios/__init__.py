"""Scenario registry. Adding a scenario: one module (or package) with a ``Scenario`` subclass, one entry
here. The class itself declares what else knows of it: its bench arguments, baseline variant and charts."""

from experiments.scenarios.agent.scenario import Agent
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.scenarios.capacity.scenario import Capacity
from experiments.scenarios.cold_hit import ColdHit, ColdHitLMCacheOnly
from experiments.scenarios.equivalence import Equivalence
from experiments.scenarios.fleet.scenario import FleetScenario
from experiments.scenarios.fleet_load.scenario import FleetLoad
from experiments.scenarios.hit_accounting.scenario import HitAccounting
from experiments.scenarios.layouts import Layouts
from experiments.scenarios.load import Load
from experiments.scenarios.overhead import Overhead
from experiments.scenarios.sharing import Sharing
from experiments.scenarios.soak.scenario import Soak
from experiments.scenarios.sweep import Sweep
from experiments.scenarios.tiers import Tiers
from experiments.scenarios.tool_loop.scenario import ToolLoop
from experiments.analysis.variant_rows import baseline_among
from lab.registry import lookup

SCENARIOS: dict[str, type[Scenario]] = {s.name: s for s in [ColdHit, ColdHitLMCacheOnly, Layouts, Tiers, Equivalence, Sharing, Sweep,
                                                            Overhead, Load, FleetScenario, Agent, Capacity, Soak, HitAccounting,
                                                            ToolLoop, FleetLoad]}


def scenario_class(name: str) -> type[Scenario]:
    return lookup(SCENARIOS, name, "scenario")


def create(name: str, **options) -> Scenario:
    """A fresh scenario for one run (``options``: e.g. ``concurrency``)."""
    return scenario_class(name)(**options)


def baseline_variant(name: str, variants: list[str]) -> str | None:
    """The scenario's baseline (its ``baseline``) among the variants a run has, else its first variant."""
    return baseline_among(SCENARIOS[name].baseline if name in SCENARIOS else None, variants)


__all__ = ["SCENARIOS", "Scenario", "baseline_variant", "ScenarioOptions", "create", "scenario_class"]
