"""Capacity: how many manuals stay hot as the working set outgrows vLLM's KV memory, LMCache's memory
and its disk.

For each working-set size W (``LMLAB_CAPACITY_SIZES``; by default chosen from the capacity model so
the sweep crosses every tier) W fresh manuals of equal size are asked about in rotation, one
question per visit: a first pass fills the caches (variant ``<config>_fill``), then ``--repeats``
passes in round-robin order and, with ``zipf`` in ``LMLAB_CAPACITY_PATTERNS``, as many visits drawn
with a seeded Zipf-like popularity (manual k visited in proportion to 1/k). Every configuration runs
the same sweep on a stack of its own, one at a time:

- ``vllm_only``: vLLM's prefix cache, no LMCache (the run's own stack);
- ``lmcache_memory``: vLLM's prefix cache + LMCache's memory tier (``<name>-lmcache_memory``);
- ``lmcache_disk``: the same + LMCache's disk tier, bounded by ``disk_gib`` (``<name>-lmcache_disk``).

A visit's hit rate is its cached tokens over the tokens a cache can serve (the static prefix, in
whole chunks). Round robin over LRU caches is the hard case: once W exceeds a tier, each visit
evicts the manual needed next, so the hit rate falls off a cliff right at the tier's capacity.
The pass mark (exit 1 when missed): vllm_only below 50% once W is 2x its KV memory; lmcache_memory
at >= 90% up to its capacity; lmcache_disk at >= 90% beyond the memory tier; each predicted crossing
within 25% of the measured one.
"""

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pandas as pd

from clients.endpoint import scrape_metrics
from experiments.run.clients import BARE, QA_GRAPH
from experiments.run.plan import Client, Plan, Session, questions_for
from experiments.run.stacks import Stacks
from experiments.scenarios.capacity.chart import capacity_curves
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.scenarios.capacity.analysis import CONFIGS, checks, kept_table, per_step
from lab.errors import UserError
from lab.profile import PROFILES
from lab.settings import env_name
from metrics.prometheus import lmcache_usage
from metrics.records import CallRecord
from prompts.questions import BUILT_IN, Question
from serving.capacity import DTYPE_BYTES, ModelShape, Tier, read_model_shape, tiers
from serving.model import resolve_model_dir
from serving.settings import SCENARIO_PORTS, StackSettings

PATTERNS = ("round_robin", "zipf")
SIZES_VAR, PATTERNS_VAR, CONFIGS_VAR = env_name("capacity_sizes"), env_name("capacity_patterns"), env_name("capacity_configs")
# Manual budget per visit on cpu: two LMCache chunks of manual, so a cold fill stays short.
CPU_MANUAL_TOKENS = 480
# The cpu tier sizes below are for bfloat16 KV; the cpu profile's dtype (float32 on a CPU without bf16
# instructions) scales them, so that they hold the same manuals.
CPU_KV_SCALE = DTYPE_BYTES[str(PROFILES["cpu"]["dtype"])] / 2


@dataclass(frozen=True)
class VisitLabels:
    """What the capacity scenario adds to each call's record."""

    config: str
    working_set: int
    pattern: str  # "" on the fill pass
    rotation_pass: int  # 0: the fill pass
    chunk_size: int


@dataclass(frozen=True)
class CapacityClient:
    """The QA graph, with each call labelled with its working set and pass, and LMCache's usage
    and eviction counters read right after it."""

    labels: VisitLabels
    inner: Client = field(default=QA_GRAPH)
    name: str = "graph"

    def calls(self, session: Session, config: dict) -> Iterator[CallRecord]:
        lab = self.labels
        for call in self.inner.calls(session, config):
            prefix = call.static_prefix_tokens or 0
            reusable = prefix // lab.chunk_size * lab.chunk_size if lab.chunk_size else prefix
            usage = lmcache_usage(scrape_metrics(session.context.lmcache_metrics_url) or "") if session.context.lmcache_metrics_url else {}
            yield replace(call, tier=lab.config, working_set_manuals=lab.working_set, working_set_tokens=lab.working_set * prefix,
                          rotation_pass=lab.rotation_pass, access_pattern=lab.pattern, reusable_tokens=reusable, **usage)  # fmt: skip


def parse_list(var: str, text: str, allowed: tuple[str, ...] | None = None) -> list:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if allowed is None:
        try:
            sizes = sorted({int(p) for p in parts})
        except ValueError:
            raise UserError(f"{var}={text!r} is not a comma-separated list of manual counts, e.g. 1,2,4,8") from None
        if not sizes or sizes[0] < 1:
            raise UserError(f"{var}={text!r} needs at least one positive manual count, e.g. 1,2,4,8")
        return sizes
    bad = [p for p in parts if p not in allowed]
    if bad or not parts:
        raise UserError(f"{var}={text!r}: use some of {', '.join(allowed)}")
    return [a for a in allowed if a in parts]


@dataclass(frozen=True, kw_only=True)
class CapacityParams:
    """The capacity scenario's own knobs (``lab.settings.resolve_params``)."""

    capacity_sizes: tuple[int, ...] = field(
        default=(),
        metadata={"description": "capacity: working-set sizes W (manuals in rotation), comma-separated. "
                                 "Empty: chosen from the capacity model so that the sweep crosses every tier.",
                  "parse": lambda text: tuple(parse_list(SIZES_VAR, text))},
    )
    capacity_patterns: tuple[str, ...] = field(
        default=PATTERNS,
        metadata={"description": "capacity: visiting patterns after the fill pass, some of " + ", ".join(PATTERNS) + ".",
                  "parse": lambda text: tuple(parse_list(PATTERNS_VAR, text, PATTERNS))},
    )
    capacity_configs: tuple[str, ...] = field(
        default=CONFIGS,
        metadata={"description": "capacity: cache configurations to sweep, some of " + ", ".join(CONFIGS) + ".",
                  "parse": lambda text: tuple(parse_list(CONFIGS_VAR, text, CONFIGS))},
    )  # fmt: skip


@dataclass(frozen=True)
class CapacityPlan(Plan):
    """The sweep, and what its run and judgement need: each configuration's stack settings, in the
    order run, and what the capacity model predicts (for the comparison and the chart)."""

    configs: dict[str, StackSettings]  # each configuration's stack
    capacity: dict
    stacks: Stacks | None = None  # the run's stack service, which starts and stops them


def default_sizes(held: dict[str, float]) -> list[int]:
    """Working-set sizes that cross every tier: 1, each tier's capacity and one past it, twice vLLM's,
    and a quarter past the largest."""
    sizes = {1}
    for c in held.values():
        sizes |= {max(1, int(c)), int(c) + 1}
    if "vllm_kv" in held:
        sizes.add(int(2 * held["vllm_kv"]) + 1)
    sizes.add(int(max(held.values()) * 1.25) + 2)
    return sorted(sizes)


def config_settings(base: StackSettings, config: str) -> StackSettings:
    """The stack of one configuration, built from the run's own (vllm_only's) settings."""
    root = base.name.removesuffix("-vllm_only")
    disk = base.disk_dir if base.disk_dir.lower() != "off" else ""
    return {
        # The run's own stack, as started (no LMCache, so no disk tier whatever disk_dir says).
        "vllm_only": replace(base, lmcache=False),
        "lmcache_memory": replace(base, name=f"{root}-lmcache_memory", lmcache=True, disk_dir="off"),
        "lmcache_disk": replace(base, name=f"{root}-lmcache_disk", lmcache=True, disk_dir=disk),
    }[config]


def zipf_order(n: int, visits: int, seed: str) -> list[int]:
    """``visits`` manual indexes, manual k drawn with weight 1/(k+1); seeded, so a resumed run plans the same."""
    rng = random.Random(seed)
    return rng.choices(range(n), weights=[1 / (k + 1) for k in range(n)], k=visits)


class Capacity(Scenario):
    name = "capacity"
    pinned_context = {"layout": "manual_first", "truncate_manual": True}  # it cuts the manual to its own sizes
    # W swept past every tier (sizes from the capacity model), 2 rotation passes, round robin and Zipf-like.
    bench_args = {"repeats": 2}
    charts = ((capacity_curves, "Hit rate and TTFT vs working set, per cache configuration"),)
    description = "hit rate and TTFT as the working set (manuals in rotation) outgrows each cache tier"
    needs_launcher = True
    kv_from_earlier_sessions = True
    params_class = CapacityParams

    @classmethod
    def stack_overrides(cls, params: CapacityParams, profile: str) -> dict:
        """The run's own stack is vllm_only's; the other configurations are built from it. On cpu the
        tiers are sized small (in bfloat16 vLLM KV 0.04 GiB, LMCache L1 0.07 GiB, disk 0.14 GiB: about
        2.6, 5 and 10 manuals of 480 tokens; twice that in float32) so the crossings come at a few manuals."""
        ports = SCENARIO_PORTS["capacity"]
        if profile == "gpu":
            return {"name": "capacity-vllm_only", "prefix_caching": True, "lmcache": False, "disk_gib": 100.0,
                    "vllm_port": ports["vllm_port"]}  # fmt: skip
        return {"name": "capacity-vllm_only", "prefix_caching": True, "lmcache": False, "max_model_len": 1024,
                "kv_cache_gib": 0.04 * CPU_KV_SCALE, "lmcache_l1_gib": 0.07 * CPU_KV_SCALE, "disk_gib": 0.14 * CPU_KV_SCALE,
                **ports}  # fmt: skip

    # ----- plan -----
    def sessions(self, opts: ScenarioOptions) -> CapacityPlan:
        base = opts.stacks.settings
        configs, patterns = list(opts.params.capacity_configs), list(opts.params.capacity_patterns)
        manual_tokens = opts.manual.tokens if opts.manual.given or base.gpu else CPU_MANUAL_TOKENS
        ctx = replace(self.pin(opts.context), manual_tokens=manual_tokens)
        stacks = {c: config_settings(base, c) for c in configs}
        shape = read_model_shape(resolve_model_dir(base.model_dir, hub_ids=base.gpu), base.dtype)
        prefix, visit = self.visit_tokens(ctx, opts.run_id)
        capacity = self.predict(stacks, shape, prefix, visit, ctx.max_tokens)
        sizes = list(opts.params.capacity_sizes) or default_sizes(capacity["held"])
        capacity["sizes"] = sizes
        sessions = []
        for config in configs:
            s = stacks[config]
            cctx = ctx.on(s)
            for w in sizes:
                sessions += self.sweep_step(opts, cctx, config, w, patterns)
        return CapacityPlan(sessions, stacks, capacity, opts.stacks)

    def visit_tokens(self, ctx, run_id: str) -> tuple[int, int]:
        """(static prefix, whole prompt) tokens of one visit, from the server's own tokenizer."""
        probe = Session("probe", 0, ["What does this manual cover?"], ["probe"], f"edition {run_id}-w0-m0", ctx)
        _, messages, prefix = next(BARE.prompts(probe))
        return prefix, ctx.server.count_chat_tokens(messages, add_generation_prompt=True)

    def predict(self, stacks: dict[str, StackSettings], shape: ModelShape, prefix: int, visit: int, answer: int) -> dict:
        """Each tier's capacity (tokens, and manuals of this size), and each configuration's predicted
        crossing: the manuals its largest tier keeps hot. vLLM holds a visit's prompt and answer
        (in blocks), LMCache the prompt's full chunks."""
        union: dict[str, Tier] = {}
        for s in stacks.values():
            for t in tiers(s, shape):
                union.setdefault(t.name, t)
        need = {name: visit + answer if name == "vllm_kv" else visit for name in union}
        held = {name: t.manuals_held(need[name]) for name, t in union.items() if t.manuals_held(need[name]) is not None}
        tier_of = {"vllm_only": "vllm_kv", "lmcache_memory": "lmcache_l1", "lmcache_disk": "lmcache_disk"}
        crossing = {}
        for config, s in stacks.items():
            names = [t.name for t in tiers(s, shape)]
            candidates = [held[n] for n in names if n in held]
            crossing[config] = {"tier": tier_of[config], "manuals": round(max(candidates), 2) if candidates else None}
        return {
            "kv_bytes_per_token": shape.kv_bytes_per_token,
            "static_prefix_tokens": prefix,
            "visit_tokens": visit,
            "tiers": {n: {"label": t.label, "bytes": t.bytes, "tokens": t.tokens, "note": t.note,
                          "footprint_tokens": t.footprint(need[n]), "manuals": None if n not in held else round(held[n], 2),
                          "working_set_tokens": None if n not in held else int(held[n] * prefix)}
                      for n, t in union.items()},
            "held": held,
            "predicted_crossing": crossing,
        }  # fmt: skip

    def sweep_step(self, opts: ScenarioOptions, ctx, config: str, w: int, patterns: list[str]) -> list[Session]:
        """One working-set size on one configuration: the fill pass, then the rotation passes."""
        chunk = ctx.chunk_size
        # Its own questions fit any manual of the working set; the user's own replace them.
        pool = QUESTIONS if opts.question_pool == BUILT_IN else opts.question_pool

        def visit(pattern: str, p: int, k: int, m: int) -> Session:
            labels = VisitLabels(config, w, pattern, p, chunk)
            variant = f"{config}_fill" if p == 0 else config
            name = f"{self.name}-{config}-w{w}-{pattern or 'fill'}-p{p}-v{k}-m{m}"
            questions = questions_for(p + m, 1, pool)
            return Session(name, p, questions, [variant], f"edition {opts.run_id}-w{w}-m{m}", ctx, client=CapacityClient(labels))

        out = [visit("", 0, m, m) for m in range(w)]
        for pattern in patterns:
            order = list(range(w)) * opts.repeats if pattern == "round_robin" else zipf_order(w, w * opts.repeats, f"{opts.run_id}-{w}")
            out += [visit(pattern, 1 + k // w, k, m) for k, m in enumerate(order)]
        return out

    # ----- execute -----
    def run(self, plan: CapacityPlan, executor) -> None:
        """One configuration at a time, each on its own stack, stopped before the next starts; the run's
        own stack is vllm_only's, used as it is. A configuration with a disk tier starts on an empty one."""
        def empty_disk(settings: StackSettings) -> None:
            if settings.lmcache and settings.disk_path is not None:
                clear_own_disk(settings)

        plan.stacks.one_at_a_time(plan.configs, lambda config: [s for s in plan if s.name.startswith(f"{self.name}-{config}-")],
                                  executor.session, prepare=empty_disk)  # fmt: skip

    # ----- analyse -----
    def comparison(self, df: pd.DataFrame, plan: CapacityPlan | None = None) -> dict:
        capacity = plan.capacity if plan is not None else {}
        rows = df[(df["scenario"] == self.name) & (df["rotation_pass"].fillna(0) > 0)].copy()
        steps = per_step(rows, df[df["scenario"] == self.name])
        kept = kept_table(steps, capacity.get("predicted_crossing", {}))
        return {"capacity": capacity, "steps": steps, "kept": kept, "checks": checks(steps, kept, capacity)}

    def report_rows(self, comparison: dict) -> list[dict]:
        return [{"configuration": k["config"], "kept at >= 90% (manuals)": k["kept_manuals"], "tokens": k["kept_tokens"],
                 "first lost": k["lost_manuals"], "predicted": k["predicted_manuals"], "within 25%": k["within_tolerance"]}
                for k in comparison.get("kept", [])]  # fmt: skip

    def summary_lines(self, comparison: dict) -> list[str]:
        cap = comparison.get("capacity", {})
        lines = [f"KV per token {cap.get('kv_bytes_per_token', 0):,} bytes; a visit {cap.get('visit_tokens')} tokens "
                 f"(static prefix {cap.get('static_prefix_tokens')}); tiers: "
                 + "; ".join(f"{t['label']} {t['tokens'] or 0:,} tokens = {t['manuals']} manuals ({t['note']})"
                             for t in cap.get("tiers", {}).values())]  # fmt: skip
        for k in comparison.get("kept", []):
            lines.append(f"[bold]{k['config']}[/] keeps {k['kept_manuals']} manuals ({k['kept_tokens']} tokens) at >= 90% "
                         f"round robin, first below at {k['lost_manuals']}; predicted {k['predicted_manuals']}")  # fmt: skip
        return lines

    def check(self, comparison: dict, expect: float | None) -> str | None:
        failed = [c["failure"] for c in comparison.get("checks", []) if c.get("failure")]
        return "; ".join(failed) if failed else None


QUESTIONS = tuple(Question(q) for q in [
    "What does this manual cover?",
    "Which topic comes first in the manual?",
    "Name one keyword the manual explains.",
    "What is the manual's edition?",
])


def clear_own_disk(settings: StackSettings) -> None:
    """Empty the disk tier's default folder (``<LMLAB_HOME>/lmcache-disk/<name>``), which only this
    scenario's stack writes, so every step starts cold even on an unbounded tier (LMLAB_DISK_GIB=0),
    whose files a later run would find. (A bounded tier's own folder is emptied by the launcher.) A
    folder you chose (``LMLAB_DISK_DIR``) is left as it is."""
    if settings.disk_is_own and settings.disk_path.is_dir():
        shutil.rmtree(settings.disk_path)
