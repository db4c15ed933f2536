"""A fleet: N vLLM instances behind vllm-router, each (routing policy, LMCache sharing) cell measured.

The scenario runs its own stack (name ``fleet``, N=2 by ``LMLAB_INSTANCES``) and, per cell of the
grid, brings the fleet to that cell's layout (a new policy restarts the router alone, a new sharing mode the
whole fleet), then asks R sessions of Q questions, each on a fresh manual edition, through the
router, one call at a time (``experiments.scenarios.fleet.client``): every row names the instance that served
it and the measured source of its hits. ``LMLAB_FLEET_CELLS`` picks cells, e.g.
``round_robin:none,consistent_hash:none``; the default grid is ``DEFAULT_CELLS``.

Sharing modes: ``none`` (each instance its own LMCache server, memory + disk), ``node`` (one LMCache
server for all), ``redis`` (each its own server, Redis as shared L2; the disk tier is off there so
that every L2 hit is Redis, and after each call the client waits until every server has finished
writing to Redis, so that the next call, on any instance, can find it).

Pass mark (exit 1 when missed), for the cells the grid holds:
- ``round_robin/none``: the first N calls of a session go one to each instance and are cold, so
  the hits are (Q - N) / (Q - 1) of questions 2..Q (within half a question per session);
- ``round_robin/node`` and ``round_robin/redis``: hits on at least 90% of questions 2..Q;
- ``consistent_hash/none``: hits on at least 90% (the session id is the header the router hashes).
Other cells (``cache_aware``, ``kv_aware``, ...) are reported where the measurements put them
(docs/fleet.md: on the CPU build no KV events arrive, so ``kv_aware`` has nothing to route on).
"""

from dataclasses import dataclass, field, replace

import pandas as pd

from experiments.scenarios.fleet.client import Fleet, FleetClient
from experiments.scenarios.fleet.grid import grid, round_robin_alone_share
from experiments.run.plan import Plan, Session, questions_for
from experiments.scenarios.fleet.chart import fleet_grid
from experiments.scenarios.base import Scenario, ScenarioOptions
from lab.errors import UserError
from serving.settings import ROUTER_POLICIES, SCENARIO_PORTS, SHARING_MODES, StackSettings

CELLS_ENV = "LMLAB_FLEET_CELLS"
DEFAULT_CELLS = [("round_robin", "none"), ("round_robin", "node"), ("round_robin", "redis"),
                 ("consistent_hash", "none"), ("cache_aware", "none")]  # fmt: skip
SHARED_AT_LEAST = 0.90


def parse_cells(text: str, var: str = CELLS_ENV) -> list[tuple[str, str]]:
    """``policy:sharing,policy:sharing`` -> cells, in order; a UserError (naming ``var``) names a bad one."""
    cells = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        policy, sep, sharing = item.partition(":")
        if not sep or policy not in ROUTER_POLICIES or sharing not in SHARING_MODES:
            raise UserError(f"{var}: {item!r} is not a cell; write policy:sharing, policy one of "
                            f"{', '.join(ROUTER_POLICIES)}, sharing one of {', '.join(SHARING_MODES)}")  # fmt: skip
        if (policy, sharing) not in cells:
            cells.append((policy, sharing))
    if not cells:
        raise UserError(f"{var} names no cell; write e.g. round_robin:none,consistent_hash:none")
    return cells


def run_order(base: StackSettings, cells) -> list[tuple[str, str]]:
    """The cells in the order a fleet runs them: the one the stack already has first, then cells of the
    same sharing mode (a policy change restarts only the router), then the others, mode by mode."""
    started = (base.router, base.sharing)
    modes = list(dict.fromkeys([base.sharing] + [s for _, s in cells]))
    return sorted(cells, key=lambda c: (c != started, modes.index(c[1])))


def cell_settings(base: StackSettings, policy: str, sharing: str) -> StackSettings:
    """The fleet's settings for one cell. Redis cells drop the disk tier: every L2 hit is then Redis."""
    more = {"disk_dir": "off"} if sharing == "redis" else {}
    return replace(base, router=policy, sharing=sharing, redis=sharing == "redis", **more)


@dataclass(frozen=True, kw_only=True)
class FleetParams:
    """The fleet's own knobs (``lab.settings.resolve_params``)."""

    fleet_cells: tuple[tuple[str, str], ...] = field(
        default=tuple(DEFAULT_CELLS),
        metadata={"description": "fleet: the grid's cells, policy:sharing comma-separated, e.g. round_robin:none,consistent_hash:none.",
                  "parse": lambda text: tuple(parse_cells(text))},
    )  # fmt: skip


@dataclass(frozen=True)
class FleetPlan(Plan):
    """The sessions, cell by cell, and what the pass mark needs: the fleet's size and the questions per session."""

    instances: int
    questions: int


class FleetScenario(Scenario):
    name = "fleet"
    pinned_context = {"layout": "manual_first", "metrics_per_call": False}  # calls on several instances: per-call deltas would mix
    bench_args = {"questions": 5, "repeats": 2}
    charts = ((fleet_grid, "Fleet: hit share and median TTFT per routing policy and sharing mode"),)
    description = "N vLLM instances behind vllm-router: routing policy x LMCache sharing"
    own_stack = {"name": "fleet", "instances": 2, "kv_cache_gib": 1, "lmcache_l1_gib": 0.5}
    params_class = FleetParams
    needs_launcher = True
    min_questions = 2

    @classmethod
    def stack_overrides(cls, params: FleetParams, profile: str) -> dict:
        """The fleet's own stack, laid out as the grid's first cell, so that the stack the run starts is
        the one the first cell uses."""
        policy, sharing = params.fleet_cells[0]
        return {**cls.own_stack, **SCENARIO_PORTS["fleet"], "router": policy, "sharing": sharing,
                **({"disk_dir": "off"} if sharing == "redis" else {})}  # fmt: skip

    def sessions(self, opts: ScenarioOptions) -> FleetPlan:
        base, stacks = opts.stacks.settings, opts.stacks
        cells = run_order(base, list(opts.params.fleet_cells))
        # Instance 0 for the manual's /tokenize; the calls go through the router, measured by the fleet's meter.
        ctx = self.pin(opts.context).on(base, 0)
        sessions = []
        for policy, sharing in cells:
            settings = cell_settings(base, policy, sharing)
            client = FleetClient(Fleet.of(settings, like=ctx.server), settle_l2=sharing == "redis")
            for r in range(opts.repeats):
                sessions.append(Session(
                    f"{self.name}-{policy}-{sharing}-r{r}", r, questions_for(r, opts.questions, opts.question_pool), [f"{policy}/{sharing}"] * opts.questions,
                    f"edition {opts.run_id}-{policy}-{sharing}-{r}", ctx, client=client,
                    before=lambda s=settings: stacks.use(s),  # this cell's layout, once per cell
                ))  # fmt: skip
        return FleetPlan(sessions, base.instances, opts.questions)

    def comparison(self, df: pd.DataFrame, plan: FleetPlan | None = None) -> dict:
        table = grid(df)
        q = plan.questions if plan is not None else int(df.loc[df["scenario"] == self.name, "question_id"].max() + 1)
        n = plan.instances if plan is not None else 2
        return {
            "instances": n,
            "questions": q,
            "round_robin_none_expected": round(round_robin_alone_share(q, n), 4),
            "cells": table.to_dict("records"),
        }

    def report_rows(self, comparison: dict) -> list[dict]:
        pct = lambda v: "-" if v is None or v != v else f"{v:.0%}"  # noqa: E731
        ms = lambda v: "-" if v is None or v != v else f"{v:.0f} ms"  # noqa: E731
        return [
            {"policy": c["policy"], "sharing": c["sharing"], "calls": c["calls"], "errors": c["errors"],
             "hits q2..Q": pct(c["hit_share_later"]), "TTFT p50 q2..Q": ms(c["ttft_p50_later_ms"]),
             "TTFT p95 q2..Q": ms(c["ttft_p95_later_ms"]), "calls per instance": c["calls_per_instance"],
             "hit sources q2..Q": c["later_sources"]}
            for c in comparison.get("cells", [])
        ]  # fmt: skip

    def summary_lines(self, comparison: dict) -> list[str]:
        lines = []
        for c in comparison.get("cells", []):
            share = c["hit_share_later"]
            lines.append(f"{c['policy']}/{c['sharing']}: hits on [bold]{'-' if share is None else f'{share:.0%}'}[/] of questions 2..Q "
                         f"({c['calls_per_instance']}; {c['errors']} errors)")  # fmt: skip
        return lines

    def check(self, comparison: dict, expect: float | None) -> str | None:
        cells = {(c["policy"], c["sharing"]): c for c in comparison.get("cells", [])}
        q, n = comparison.get("questions") or 2, comparison.get("instances") or 2
        rr = cells.get(("round_robin", "none"))
        if rr is not None:
            want, got = comparison["round_robin_none_expected"], rr["hit_share_later"]
            if got is None or abs(got - want) > 0.5 / max(q - 1, 1):
                return (f"round_robin/none hit {got if got is None else f'{got:.0%}'} of questions 2..Q; "
                        f"with {n} instances and no sharing the expected share is {want:.0%}")  # fmt: skip
        for cell in (("round_robin", "node"), ("round_robin", "redis"), ("consistent_hash", "none")):
            c = cells.get(cell)
            if c is not None and (c["hit_share_later"] is None or c["hit_share_later"] < SHARED_AT_LEAST):
                got = c["hit_share_later"]
                return f"{'/'.join(cell)} hit {'-' if got is None else f'{got:.0%}'} of questions 2..Q, below {SHARED_AT_LEAST:.0%}"
        return None
