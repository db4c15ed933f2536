"""fleet_load: many tenants and users at once through a fleet, step by step in load, per routing
policy and sharing mode.

The scenario runs its own stack (name ``fleet_load``, N=2 by ``LMLAB_INSTANCES``), with vLLM's
prefix cache on in every cell (so that each instance publishes the KV events ``kv_aware`` routes on,
and every cell has the same tiers: vLLM's KV memory, then LMCache's memory; the disk tier is off).
M tenants (manuals) have U users each; a user is a session of Q questions on the tenant's manual.
For each cell (``LMLAB_LOAD_CELLS``) and each load step (``LMLAB_LOAD_STEPS``: sessions at once), all
M x U sessions run, that many at a time, interleaved across tenants, each step on fresh editions of
the manuals and bounded by ``LMLAB_LOAD_STEP_SECONDS``. Every call carries its session's id as
``X-Session-ID`` (what ``consistent_hash`` hashes) and its row names the instance its stream names
(``served_by``). Each step is measured on the servers too (``load_steps.csv``): every instance's
tokens and hits by source, vLLM's mean queue time, the router's kv_aware look-ups by result and the
KV events each instance published.

The tiers are sized (on cpu, in bfloat16: vLLM KV 0.06 GiB, LMCache memory 0.07 GiB per instance;
twice that in float32) so that the working set, M manuals, lies between what one instance keeps
and what the fleet keeps: the regime where routing decides. ``summary.json`` says where it lies.

Pass marks, in the highest step (``experiments.scenarios.fleet_load.cells.check``): ``kv_aware/none``
hits at least twice as often as ``round_robin/none`` and at least as often as
``consistent_hash/none``, with a p90 TTFT at most a third of ``round_robin/none``'s, while no instance
takes more than 1.5x the mean share of the calls.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from experiments.run.clients import BARE
from experiments.run.plan import Plan, Session, questions_for
from experiments.run.stacks import Stacks
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.scenarios.capacity.scenario import CPU_KV_SCALE
from experiments.scenarios.fleet.client import Fleet, FleetClient
from experiments.scenarios.fleet.scenario import cell_settings, parse_cells, run_order
from experiments.scenarios.fleet_load.cells import STEPS_CSV, cells, check
from experiments.scenarios.fleet_load.chart import hits_and_share, p90_against_load
from experiments.scenarios.fleet_load.load import KvEventCounter, LoadClient, StepClock, fleet_snapshot, step_figures
from lab.errors import UserError
from lab.settings import env_name
from serving.capacity import read_model_shape, tiers
from serving.model import resolve_model_dir
from serving.settings import SCENARIO_PORTS, StackSettings

CELLS_VAR = env_name("load_cells")
STEPS_VAR = env_name("load_steps")
DEFAULT_CELLS = (("round_robin", "none"), ("consistent_hash", "none"), ("kv_aware", "none"), ("round_robin", "node"))
CPU_MANUAL_TOKENS = 480  # two LMCache chunks of manual per tenant on cpu, so a cold prefill stays short


def parse_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        steps = ()
    if not steps or any(s < 1 for s in steps):
        raise UserError(f"{STEPS_VAR}: {text!r} is not a list of load steps; write sessions at once, e.g. 1,2,4")
    return tuple(sorted(set(steps)))


@dataclass(frozen=True, kw_only=True)
class FleetLoadParams:
    """fleet_load's own knobs (``lab.settings.resolve_params``)."""

    load_cells: tuple[tuple[str, str], ...] = field(
        default=DEFAULT_CELLS,
        metadata={"description": "fleet_load: the cells, policy:sharing comma-separated, e.g. round_robin:none,kv_aware:none.",
                  "parse": lambda text: tuple(parse_cells(text, CELLS_VAR))},
    )
    load_steps: tuple[int, ...] = field(
        default=(1, 2, 4),
        metadata={"description": "fleet_load: the load steps, sessions at once, comma-separated.", "parse": parse_steps},
    )
    load_tenants: int = field(default=8, metadata={"description": "fleet_load: tenants, each with a manual of its own."})
    load_users: int = field(default=2, metadata={"description": "fleet_load: users per tenant, each a session of --questions questions."})
    load_step_seconds: float = field(
        default=300.0, metadata={"description": "fleet_load: a load step stops asking after this many seconds."}
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("load_tenants", "load_users"):
            if getattr(self, name) < 1:
                raise UserError(f"{env_name(name)} must be at least 1, not {getattr(self, name)}")
        if self.load_step_seconds <= 0:
            raise UserError(f"{env_name('load_step_seconds')} must be above 0, not {self.load_step_seconds:g}")


@dataclass(frozen=True)
class FleetLoadPlan(Plan):
    """The sessions, cell by cell and step by step, and what the run and the table need besides."""

    cells: list[tuple[str, str]]
    steps: tuple[int, ...]
    base: StackSettings
    clock: StepClock
    step_seconds: float
    tenants: int
    stacks: Stacks | None = None


class FleetLoad(Scenario):
    name = "fleet_load"
    # Concurrent calls: per-call deltas would mix. It cuts each tenant's manual to its own size (cpu: 480 tokens).
    pinned_context = {"layout": "manual_first", "metrics_per_call": False, "truncate_manual": True}
    bench_args = {"questions": 3, "repeats": 1}
    charts = ((p90_against_load, "Fleet under load: p90 TTFT against sessions at once, per routing policy"),
              (hits_and_share, "Fleet under load: hit share and the busiest instance's share, per cell"))  # fmt: skip
    description = "M tenants x U users at once through N instances: routing policy x sharing x load step"
    params_class = FleetLoadParams
    needs_launcher = True
    min_questions = 2

    @classmethod
    def stack_overrides(cls, params: FleetLoadParams, profile: str) -> dict:
        """The fleet's own stack, laid out as the first cell; on cpu its tiers sized for the regime."""
        policy, sharing = params.load_cells[0]
        sized = {} if profile == "gpu" else {"max_model_len": 1024, "kv_cache_gib": round(0.06 * CPU_KV_SCALE, 4),
                                             "lmcache_l1_gib": round(0.07 * CPU_KV_SCALE, 4)}  # fmt: skip
        return {"name": "fleet_load", "instances": 2, "prefix_caching": True, "disk_dir": "off", **sized,
                **SCENARIO_PORTS["fleet_load"], "router": policy, "sharing": sharing, "redis": sharing == "redis"}  # fmt: skip

    def sessions(self, opts: ScenarioOptions) -> FleetLoadPlan:
        base, params = opts.stacks.settings, opts.params
        manual_tokens = opts.manual.tokens if opts.manual.given or base.gpu else CPU_MANUAL_TOKENS
        ctx = replace(self.pin(opts.context), manual_tokens=manual_tokens).on(base, 0)
        clock = StepClock()
        order = run_order(base, list(params.load_cells))
        sessions = []
        for policy, sharing in order:
            settings = cell_settings(base, policy, sharing)
            fleet = FleetClient(Fleet.of(settings, like=ctx.server, per_call=False), settle_l2=False)
            for step in params.load_steps:
                for u in range(params.load_users):  # interleaved: every tenant's first user, then the second ...
                    for t in range(params.load_tenants):
                        tenant = f"t{t}"
                        sessions.append(Session(
                            f"{self.name}-{policy}-{sharing}-c{step}-{tenant}-u{u}", u,
                            questions_for(u, opts.questions, opts.question_pool), [f"{policy}/{sharing}"] * opts.questions,
                            f"edition {opts.run_id}-{policy}-{sharing}-c{step}-{tenant}", ctx,
                            client=LoadClient(fleet, clock, tenant, step),
                        ))  # fmt: skip
        return FleetLoadPlan(sessions, order, params.load_steps, base, clock, params.load_step_seconds, params.load_tenants, opts.stacks)

    @staticmethod
    def regime(base: StackSettings, probe: Session, tenants: int) -> dict:
        """Where the working set (every tenant's prompt) lies against one instance's caches and the
        fleet's, from ``probe``'s prompt as the running server renders it."""
        ctx = probe.context
        probe = replace(probe, questions=probe.questions[:1])
        _, messages, _ = next(BARE.prompts(probe))
        prompt = ctx.server.count_chat_tokens(messages, add_generation_prompt=True)
        shape = read_model_shape(resolve_model_dir(base.model_dir, hub_ids=base.gpu), base.dtype)
        held = {t.name: t.manuals_held(prompt) for t in tiers(base, shape)}
        # LMCache keeps what vLLM computed too, so one instance keeps about the larger of its two tiers.
        one = max((v for v in held.values() if v is not None), default=None)
        fleet = one * base.instances if one is not None else None
        where = ("unknown" if one is None else "within one instance: routing cannot decide" if tenants <= one
                 else "beyond the fleet: every policy misses" if tenants > fleet else "between one instance and the fleet: routing decides")  # fmt: skip
        return {"tenants": tenants, "prompt_tokens": prompt, "manuals_per_instance": {k: _round(v) for k, v in held.items()},
                "manuals_per_instance_kept": _round(one), "manuals_fleet_kept": _round(fleet), "regime": where}  # fmt: skip

    def planned(self, plan: FleetLoadPlan, calls: int) -> str:
        return f"at most {calls} calls ({len(plan.cells)} cells x {len(plan.steps)} load steps, {plan.step_seconds:.0f} s each at most)"

    def run(self, plan: FleetLoadPlan, executor) -> None:
        out = Path(executor.writer.path).parent
        plan.observed["out"] = str(out)
        if len(plan):
            plan.stacks.use(cell_settings(plan.base, *plan.cells[0]))
            plan.observed["regime"] = self.regime(plan.base, plan[0], plan.tenants)
        for policy, sharing in plan.cells:
            settings = cell_settings(plan.base, policy, sharing)
            fleet = Fleet.of(settings, per_call=False)
            for step in plan.steps:
                todo = [s for s in plan if s.name.startswith(f"{self.name}-{policy}-{sharing}-c{step}-")]
                if not todo:
                    continue
                plan.stacks.use(settings)
                events = KvEventCounter([settings.kv_events_endpoint(i) for i in range(settings.instances)])
                try:
                    before = fleet_snapshot(fleet, settings.router_metrics_url)
                    events.take()
                    plan.clock.start(plan.step_seconds)
                    executor.concurrently(todo, step)
                    row = step_figures(fleet, before, fleet_snapshot(fleet, settings.router_metrics_url), events.take())
                finally:
                    events.close()
                append_step(out / STEPS_CSV, {"variant": f"{policy}/{sharing}", "load_step": step,
                                              "stopped_by_clock": plan.clock.over(), **row})  # fmt: skip

    def comparison(self, df: pd.DataFrame, plan: FleetLoadPlan | None = None) -> dict:
        out = Path(plan.observed.get("out", "")) if plan is not None else None
        steps = read_steps(out / STEPS_CSV) if out else None
        instances = plan.base.instances if plan is not None else 2
        return {"instances": instances, "regime": plan.observed.get("regime") if plan is not None else None,
                "cells": cells(df, steps, instances)}  # fmt: skip

    def report_rows(self, comparison: dict) -> list[dict]:
        ms = lambda v: "-" if v is None else f"{v:,.0f}"  # noqa: E731
        pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
        return [
            {"policy": c["policy"], "sharing": c["sharing"], "at once": c["load_step"], "calls": c["calls"], "errors": c["errors"],
             "TTFT p50 ms": ms(c["ttft_p50_ms"]), "p90": ms(c["ttft_p90_ms"]), "p99": ms(c["ttft_p99_ms"]),
             "calls/s": "-" if c["calls_per_s"] is None else f"{c['calls_per_s']:.2f}", "hits": pct(c["hit_share"]),
             "busiest/mean": "-" if c["max_share_over_mean"] is None else f"{c['max_share_over_mean']:.2f}",
             "queue ms": ms(c.get("queue_time_mean_ms")), "kv look-up hits": c.get("router_lookups_hit", "-"),
             "calls per instance": c["calls_per_instance"]}
            for c in comparison.get("cells", [])
        ]  # fmt: skip

    def summary_lines(self, comparison: dict) -> list[str]:
        r = comparison.get("regime") or {}
        if not r:
            return []
        return [f"working set: {r['tenants']} manuals of {r['prompt_tokens']} prompt tokens; one instance keeps about "
                f"{r['manuals_per_instance_kept']}, the fleet {r['manuals_fleet_kept']}: [bold]{r['regime']}[/]"]  # fmt: skip

    def printed(self, comparison: dict) -> dict:
        return {}  # the table and the regime line say it all

    def check(self, comparison: dict, expect: float | None) -> str | None:
        return check(comparison.get("cells", []))


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def append_step(path: Path, row: dict) -> None:
    """One load step's server figures, a row of ``load_steps.csv`` (a resumed step's row replaces its earlier one)."""
    rows = read_steps(path)
    new = pd.DataFrame([row])
    if rows is not None:
        rows = rows[~((rows["variant"] == row["variant"]) & (rows["load_step"] == row["load_step"]))]
        new = pd.concat([rows, new], ignore_index=True)
    new.to_csv(path, index=False)


def read_steps(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None
