"""Tool loop: which part of each turn of a tool-calling agent the cache serves, under three cache
configurations run one after another, each on a stack of its own:

- ``lmcache_256``: LMCache alone (vLLM's prefix cache off) at its default 256-token chunk (the run's own stack);
- ``lmcache_128``: LMCache alone at 128-token chunks (``<name>-lmcache_128``);
- ``vllm_prefix``: vLLM's prefix cache on in front of LMCache at 256 (``<name>-vllm_prefix``).

Each question is worked on for ``Context.tool_turns`` turns of the tool-loop graph (graphs/tool_loop.py):
each turn's prompt is the last turn's plus its reply and a find_section result. Pass mark (exit 1
when missed), per later turn: uncached tokens at most its new tokens plus one vLLM block with vLLM's
prefix cache in front, plus one LMCache chunk with LMCache alone (experiments/scenarios/tool_loop/analysis.py).
"""

from dataclasses import dataclass, replace

import pandas as pd

from experiments.run.clients import TOOL_LOOP_GRAPH
from experiments.run.plan import Plan, Session, questions_for
from experiments.run.stacks import Stacks
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.scenarios.tool_loop.analysis import checks, per_turn
from experiments.scenarios.tool_loop.chart import uncached_per_turn
from graphs.context import Context
from serving.capacity import VLLM_CPU_BLOCK_TOKENS
from serving.settings import SCENARIO_PORTS, StackSettings

SMALL_CHUNK = 128  # half the default; LMCache's chunk must be a multiple of vLLM's block (128 on its CPU backend): vLLM refuses 64
# vLLM's CUDA backend's default block size (its CPU backend's is VLLM_CPU_BLOCK_TOKENS).
VLLM_GPU_BLOCK_TOKENS = 16
CONFIGS = ("lmcache_256", "lmcache_128", "vllm_prefix")


def config_settings(base: StackSettings, config: str) -> StackSettings:
    """The stack of one configuration, built from the run's own (lmcache_256's) settings."""
    root = base.name.removesuffix("-lmcache_256")
    return {
        "lmcache_256": base,
        "lmcache_128": replace(base, name=f"{root}-lmcache_128", chunk_size=SMALL_CHUNK, prefix_caching=False),
        "vllm_prefix": replace(base, name=f"{root}-vllm_prefix", prefix_caching=True),
    }[config]


def allowance_of(settings: StackSettings) -> int:
    """Tokens a later turn may compute beyond its new ones: one unit of the cache in front."""
    if settings.prefix_caching:
        return VLLM_GPU_BLOCK_TOKENS if settings.gpu else VLLM_CPU_BLOCK_TOKENS
    return settings.chunk_size


# Without the plan (a report rebuilt from results.csv), the allowances of the cpu profile's defaults.
DEFAULT_ALLOWANCE = {"lmcache_256": 256, "lmcache_128": SMALL_CHUNK, "vllm_prefix": VLLM_CPU_BLOCK_TOKENS}


@dataclass(frozen=True)
class ToolLoopPlan(Plan):
    """The sessions, each configuration's stack in the order run, and each one's allowance."""

    configs: dict[str, StackSettings]
    allowance: dict[str, int]
    stacks: Stacks | None = None


class ToolLoop(Scenario):
    name = "tool_loop"
    bench_args = {"questions": 3, "repeats": 1}
    baseline = "lmcache_256"
    charts = ((uncached_per_turn, "Tool loop: uncached tokens per turn, per cache configuration"),)
    description = "a tool loop's appended turns under LMCache at 256 and 128-token chunks and with vLLM's prefix cache in front"
    needs_launcher = True
    calls_per_question = Context().tool_turns

    @classmethod
    def stack_overrides(cls, params, profile: str) -> dict:
        """The run's own stack is lmcache_256's; the other two are built from it."""
        return {"name": "tool_loop-lmcache_256", "prefix_caching": False, "lmcache": True, "chunk_size": 256,
                **SCENARIO_PORTS["tool_loop"]}  # fmt: skip

    def sessions(self, opts: ScenarioOptions) -> ToolLoopPlan:
        base = opts.stacks.settings
        configs = {c: config_settings(base, c) for c in CONFIGS}
        sessions = [
            Session(
                name=f"{self.name}-{config}-r{r}", repeat=r, questions=questions_for(r, opts.questions, opts.question_pool),
                variants=[config] * opts.questions, edition=f"edition {opts.run_id}-{config}-{r}",
                # The chunk size also aligns the manual cut and the prediction to this stack's chunks.
                context=replace(opts.context, chunk_size=s.chunk_size).on(s), client=TOOL_LOOP_GRAPH,
            )
            for config, s in configs.items()
            for r in range(opts.repeats)
        ]  # fmt: skip
        return ToolLoopPlan(sessions, configs, {c: allowance_of(s) for c, s in configs.items()}, opts.stacks)

    def run(self, plan: ToolLoopPlan, executor) -> None:
        """One configuration at a time, each on its own stack, stopped before the next starts (memory for one)."""
        plan.stacks.one_at_a_time(plan.configs, lambda config: [s for s in plan if s.name.startswith(f"{self.name}-{config}-")],
                                  executor.session)  # fmt: skip

    def comparison(self, df: pd.DataFrame, plan: ToolLoopPlan | None = None) -> dict:
        allowance = plan.allowance if plan is not None else DEFAULT_ALLOWANCE
        return {"allowance": allowance, "turns": per_turn(df, allowance), "failures": checks(df, allowance)}

    def report_rows(self, comparison: dict) -> list[dict]:
        return [{"configuration": t["config"], "turn": t["turn"], "calls": t["calls"], "new": _n(t["new_tokens"]),
                 "cached": _n(t["cached_tokens"]), "vLLM device": _n(t["device_hit_tokens"]), "LMCache": _n(t["lmcache_hit_tokens"]),
                 "uncached": _n(t["uncached_tokens"]), "allowed over new": t["allowance"], "within": t["within"] or "-"}
                for t in comparison.get("turns", [])]  # fmt: skip

    def summary_lines(self, comparison: dict) -> list[str]:
        lines = []
        for config, unit in comparison.get("allowance", {}).items():
            later = [t for t in comparison.get("turns", []) if t["config"] == config and t["turn"] >= 2]
            if not later:
                continue
            excess = max(t["worst_excess"] for t in later)
            kept = ", ".join(f"turn {t['turn']} {t['within']}" for t in later)
            lines.append(f"[bold]{config}[/]: later turns computed at most {excess} tokens beyond their new ones "
                         f"(allowed {unit}); within the mark: {kept}")  # fmt: skip
        return lines

    def printed(self, comparison: dict) -> dict:
        return {}  # the per-turn table, the lines and the check say it all

    def check(self, comparison: dict, expect: float | None) -> str | None:
        return "; ".join(comparison.get("failures", [])) or None


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"
