"""Cold start vs cache hit: the first question on a never-seen manual, then different questions on it.

Each repeat uses a fresh manual edition, so its first call is a true cold start even though
LMCache's disk tier keeps KV across runs and restarts.
"""

import pandas as pd

from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.analysis.summary import reduction


class ColdHit(Scenario):
    name = "cold_hit"
    bench_args = {}
    baseline = "cold"
    description = "first question on a fresh manual (cold) vs the next questions on it (cache hits)"
    default_expect = 0.70
    min_questions = 2
    pinned_context = {"layout": "manual_first"}

    def sessions(self, opts: ScenarioOptions) -> Plan:
        ctx = self.pin(opts.context)
        return Plan([question_session(f"{self.name}-r{r}", r, opts.questions, f"edition {opts.run_id}-{r}", ctx, pool=opts.question_pool)
                     for r in range(opts.repeats)])

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        return {
            "cold_ttft_median_ms": rows.loc[rows["variant"] == "cold", "ttft_ms"].median(),
            "hit_ttft_median_ms": rows.loc[rows["variant"] == "hit", "ttft_ms"].median(),
            "ttft_reduction": reduction(df, self.name, "cold", "hit"),
            "hit_rate_min_on_hits": rows.loc[rows["variant"] == "hit", "hit_rate"].min(),
        }

    def check(self, comparison: dict, expect: float | None) -> str | None:
        got = comparison.get("ttft_reduction")
        if expect is None:
            return None
        if got is None or pd.isna(got):
            return "no cold and hit calls were measured, so the TTFT reduction is unknown"
        if got < expect:
            return f"median TTFT reduction {got:.1%} is below the expected {expect:.0%}"
        return None


class ColdHitLMCacheOnly(ColdHit):
    """The same measurement with vLLM's own prefix cache off, so that every hit is loaded from LMCache's
    CPU tier: what LMCache alone saves. On cpu that is already the default stack; on gpu (where vLLM's
    cache is on by default and serves these hits) it is the LMCache-only figure. Its own stack and ports."""

    name = "cold_hit_lmcache"
    bench_args = None
    description = "cold_hit with vLLM's prefix cache off: every hit loaded from LMCache"
    own_stack = {"name": "lmcache-only", "prefix_caching": False}
