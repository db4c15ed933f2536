"""Which cache tier served the hit: the same prompt from recompute, vLLM's own prefix cache, LMCache's
CPU memory (L1) and LMCache's disk tier (L2, after restarting every server).

The scenario runs its own stack (name ``tiers``, its own ports) with vLLM's prefix cache ON, so that
vLLM's own cache can serve the second call; it is then emptied through ``/reset_prefix_cache`` (and
the next call's metrics prove it was), and finally the launcher restarts vLLM and the LMCache server,
leaving only the disk tier. A stack without a disk tier (``LMLAB_DISK_DIR=off``, the gpu profile's
default) skips that last step.
"""

from dataclasses import replace

import pandas as pd

from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario, ScenarioOptions

TIERS = ["cold", "vllm_cache", "lmcache_l1", "lmcache_disk"]


class Tiers(Scenario):
    name = "tiers"
    pinned_context = {"layout": "manual_first"}
    bench_args = {}
    description = "the same prompt served by recompute, vLLM's cache, LMCache L1 (memory) and LMCache disk"
    default_expect = 0.90  # every tier's hit TTFT at most 10% of cold
    own_stack = {"name": "tiers", "prefix_caching": True}
    needs_launcher = True
    kv_from_earlier_sessions = True
    logprobs = False

    def sessions(self, opts: ScenarioOptions) -> Plan:
        ctx = replace(self.pin(opts.context), logprobs=self.logprobs)
        stacks = opts.stacks

        def reset_vllm_cache() -> None:
            ctx.server.reset_prefix_cache()

        def restart_servers() -> None:
            stacks.restart()

        before = {"cold": None, "vllm_cache": None, "lmcache_l1": reset_vllm_cache, "lmcache_disk": restart_servers}
        tiers = TIERS if stacks.settings.disk_path is not None else TIERS[:-1]
        sessions = []
        for r in range(opts.repeats):
            for tier in tiers:
                sessions.append(question_session(f"{self.name}-r{r}-{tier}", r, 1, f"edition {opts.run_id}-{r}", ctx,
                                                 variants=[tier], before=before[tier], pool=opts.question_pool))  # fmt: skip
        return Plan(sessions)

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        cold = rows.loc[rows["variant"] == "cold", "ttft_ms"].median()
        out = {"cold_ttft_median_ms": cold}
        for tier in TIERS[1:]:
            t = rows[rows["variant"] == tier]
            if t.empty:
                continue
            out[tier] = {
                "ttft_median_ms": t["ttft_ms"].median(),
                "ttft_vs_cold": round(t["ttft_ms"].median() / cold, 4) if cold else None,
                "device_hit_tokens": t["device_hit_tokens"].median(),
                "lmcache_hit_tokens": t["lmcache_hit_tokens"].median(),
                "lmcache_l1_hit_tokens": t["lmcache_l1_hit_tokens"].median(),
                "lmcache_l2_hit_tokens": t["lmcache_l2_hit_tokens"].median(),
            }
        l1 = rows[rows["variant"] == "lmcache_l1"]
        disk = rows[rows["variant"] == "lmcache_disk"]
        # vLLM answers 200 to /reset_prefix_cache even when it did nothing: the proof is the next call.
        out["vllm_reset_verified"] = bool(len(l1)) and bool((l1["device_hit_tokens"] == 0).all())
        if len(disk):
            # With LMCache inside vLLM (gpu) there is no tier split; after a restart any LMCache hit came from disk.
            l2 = disk["lmcache_l2_hit_tokens"].fillna(disk["lmcache_hit_tokens"])
            out["disk_tier_verified"] = bool((l2 > 0).all())
        return out

    def check(self, comparison: dict, expect: float | None) -> str | None:
        if not comparison.get("vllm_reset_verified"):
            return "vLLM's prefix cache was not emptied before the LMCache L1 call (device hits > 0), so that row is not an L1 hit"
        if comparison.get("disk_tier_verified") is False:
            return "the call after the restart got no LMCache L2 (disk) hits"
        if expect is not None:
            for tier in (t for t in TIERS[1:] if t in comparison):
                ratio = comparison[tier]["ttft_vs_cold"]
                if ratio is None or ratio > 1 - expect:
                    return f"{tier} hit TTFT is {ratio:.1%} of cold, above the expected {1 - expect:.0%}"
        return None
