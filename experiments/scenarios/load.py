"""Reliability under load: C sessions at once, each asking Q questions about the same manual.

Per-call /metrics deltas would mix concurrent calls, so the per-call source split is off here; the
run's totals (summary.json ``run_cache_totals``) split all hits by source instead.
"""

import pandas as pd

from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario, ScenarioOptions


class Load(Scenario):
    name = "load"
    pinned_context = {"layout": "manual_first", "metrics_per_call": False}  # concurrent calls would mix per-call /metrics deltas
    bench_args = {"concurrency": 8, "questions": 20, "repeats": 1}
    description = "concurrent sessions on one manual: errors, p50/p95 TTFT, hit rate, throughput"
    default_expect = 0.90  # mean hit rate after each session's first question
    default_concurrency = 8

    def sessions(self, opts: ScenarioOptions) -> Plan:
        ctx = self.pin(opts.context)
        edition = f"edition {opts.run_id}"
        return Plan([
            question_session(f"{self.name}-s{c}", c, opts.questions, edition, ctx, variants=["first"] + ["next"] * (opts.questions - 1),
                             pool=opts.question_pool)
            for c in range(self.concurrency)
        ])

    def run(self, plan: Plan, executor) -> None:
        executor.concurrently(list(plan), self.concurrency)

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        nxt = rows[rows["variant"] == "next"]
        end = (rows["started_at"] + rows["total_ms"] / 1000).max()
        wall = end - rows["started_at"].min() if len(rows) else 0
        return {
            "concurrency": self.concurrency,
            "calls": len(rows),
            "ttft_p50_ms": rows["ttft_ms"].quantile(0.5),
            "ttft_p95_ms": rows["ttft_ms"].quantile(0.95),
            "next_ttft_p50_ms": nxt["ttft_ms"].quantile(0.5),
            "next_ttft_p95_ms": nxt["ttft_ms"].quantile(0.95),
            "next_hit_rate_mean": round(nxt["hit_rate"].mean(), 4) if len(nxt) else None,
            "next_hit_rate_min": nxt["hit_rate"].min() if len(nxt) else None,
            "throughput_calls_per_s": round(len(rows) / wall, 3) if wall else None,
            "throughput_prompt_tokens_per_s": round(rows["prompt_tokens"].sum() / wall, 1) if wall else None,
        }

    def check(self, comparison: dict, expect: float | None) -> str | None:
        got = comparison.get("next_hit_rate_mean")
        if expect is not None and (got is None or got < expect):
            return f"mean hit rate after each session's first question is {got}, below the expected {expect:.0%}"
        return None
