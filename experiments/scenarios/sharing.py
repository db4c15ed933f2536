"""Sharing KV between vLLM instances through Redis: instance A computes, instance B reuses.

The scenario runs its own stack (name ``sharing``): Redis plus two vLLM instances, each with its own
LMCache server, both using Redis as their L2 tier (the disk tier is off, so every L2 hit is Redis).
Per repeat: B answers a question on a manual nobody has seen (B's own cold start), A answers the
first question on a fresh manual, then B answers the next questions on that manual. B's first call
finds nothing in its own memory; its hit comes from Redis. B's later questions are served from Redis
too (measured with LMCache 0.5.6: L2 tokens, none from B's own L1), hence their variant,
``b_redis_again``; the comparison counts every B hit by its measured tier, so a later LMCache that
does keep it in L1 shows up there rather than under a name that says otherwise.
"""

import time

import pandas as pd

from clients.endpoint import scrape_metrics
from experiments.run.plan import Plan, Session, questions_for
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.analysis.summary import median_ratio
from lab.errors import UserError
from metrics.prometheus import L2_STORES_COMPLETED, L2_STORES_SUBMITTED, parse_counters


def wait_for_l2_stores(lmcache_url: str, timeout_s: float = 60) -> None:
    """Block until the LMCache server has finished writing to its L2 tier what it accepted."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c = parse_counters(scrape_metrics(lmcache_url) or "")
        if c.get(L2_STORES_SUBMITTED, 0) and c.get(L2_STORES_COMPLETED, 0) >= c.get(L2_STORES_SUBMITTED, 0):
            return
        time.sleep(0.2)
    raise UserError(f"the LMCache server at {lmcache_url} did not finish writing to Redis within {timeout_s:.0f} s")


class Sharing(Scenario):
    name = "sharing"
    pinned_context = {"layout": "manual_first"}
    bench_args = {}
    baseline = "b_cold"
    description = "instance B reuses the KV instance A computed, through a shared Redis tier"
    default_expect = 0.85  # B's Redis hit TTFT at most 15% of B's cold TTFT
    own_stack = {"name": "sharing", "instances": 2, "sharing": "redis", "disk_dir": "off", "kv_cache_gib": 1, "lmcache_l1_gib": 1.0}
    needs_launcher = True
    kv_from_earlier_sessions = True

    def sessions(self, opts: ScenarioOptions) -> Plan:
        settings = opts.stacks.settings
        ctx = self.pin(opts.context)
        a, b = (ctx.on(settings, i) for i in range(settings.instances))
        n = max(opts.questions, 2)
        sessions = []
        for r in range(opts.repeats):
            qs = questions_for(r, n, opts.question_pool)
            edition = f"edition {opts.run_id}-{r}"
            sessions += [
                Session(f"{self.name}-r{r}-b-cold", r, qs[:1], ["b_cold"], f"{edition}-b", b),
                Session(f"{self.name}-r{r}-a", r, qs[:1], ["a_cold"], edition, a),
                Session(f"{self.name}-r{r}-b", r, qs[1:], ["b_redis"] + ["b_redis_again"] * (n - 2), edition, b,
                        before=lambda: wait_for_l2_stores(a.lmcache_metrics_url)),
            ]  # fmt: skip
        return Plan(sessions)

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        redis = rows[rows["variant"] == "b_redis"]
        again = rows[rows["variant"] == "b_redis_again"]
        l1, l2 = again["lmcache_l1_hit_tokens"].fillna(0), again["lmcache_l2_hit_tokens"].fillna(0)
        return {
            "a_cold_ttft_median_ms": rows.loc[rows["variant"] == "a_cold", "ttft_ms"].median(),
            "b_cold_ttft_median_ms": rows.loc[rows["variant"] == "b_cold", "ttft_ms"].median(),
            "b_redis_ttft_median_ms": redis["ttft_ms"].median(),
            "b_redis_vs_b_cold": median_ratio(df, self.name, "b_redis", "b_cold"),
            "b_redis_l2_hit_tokens_median": redis["lmcache_l2_hit_tokens"].median(),
            "redis_verified": bool(len(redis)) and bool((redis["lmcache_l2_hit_tokens"] > 0).all()),
            "b_redis_again_ttft_median_ms": again["ttft_ms"].median(),
            # Where B's later hits really came from, as B's LMCache server counted them: mostly its
            # own memory (L1) or mostly Redis (L2).
            "b_redis_again_from_l1": int((l1 > l2).sum()),
            "b_redis_again_from_l2": int(((l2 >= l1) & (l2 > 0)).sum()),
        }  # fmt: skip

    def check(self, comparison: dict, expect: float | None) -> str | None:
        if not comparison.get("redis_verified"):
            return "instance B's first call on A's manual got no L2 (Redis) hits"
        ratio = comparison.get("b_redis_vs_b_cold")
        if expect is not None and (ratio is None or ratio > 1 - expect):
            return f"B's Redis hit TTFT is {ratio:.1%} of its cold TTFT, above the expected {1 - expect:.0%}"
        return None
