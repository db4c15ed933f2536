"""Does reuse change the answer? The tiers plan at temperature 0 with logprobs. Two comparisons:

- each tier's answer against the one computed from scratch (cold). A cold call prefills the whole
  prompt; a hit computes only the question over cached KV. In bf16 those are different sums, so
  where two tokens are nearly tied the pick can flip: that is numerical noise, not reuse;
- each LMCache tier's answer against vLLM's own cache hit, the very same computation over KV that
  never left vLLM: any difference there would be LMCache changing the KV.

A difference from cold is reported with the first differing token and the logprob margin there. It
counts as explained when the tier took the cold run's runner-up token and the cold margin between
the two was at most ``NEAR_TIE_NATS``: a confident token replaced would mean corrupted KV.
Pass mark (``--expect-reduction``, default 0.95): that share of LMCache answers identical to vLLM's
cache, and no unexplained difference from cold."""

import json

import pandas as pd

from experiments.run.plan import Plan
from experiments.scenarios.tiers import TIERS, Tiers


def first_difference(cold: list, other: list) -> dict | None:
    """Where two answers' token lists part, with the logprobs on both sides; None when identical."""
    for i, (c, o) in enumerate(zip(cold, other, strict=False)):
        if c[0] != o[0]:
            return {
                "position": i, "cold_token": c[0], "tier_token": o[0], "cold_logprob": c[1], "tier_logprob": o[1],
                # Margin between the cold run's top two candidates: near 0 means a tie that noise can flip.
                "cold_top2_margin": round(c[1] - c[3], 5) if c[3] == c[3] else None, "cold_runner_up": c[2],
            }  # fmt: skip
    if len(cold) != len(other):
        return {"position": min(len(cold), len(other)), "cold_token": None, "tier_token": None, "note": "one answer is longer"}
    return None


NEAR_TIE_NATS = 0.25


def explained(diff: dict) -> bool:
    """A flip between the cold run's two best tokens, nearly tied: numerical noise."""
    margin = diff.get("cold_top2_margin")
    return margin is not None and margin <= NEAR_TIE_NATS and diff.get("tier_token") == diff.get("cold_runner_up")


class Equivalence(Tiers):
    name = "equivalence"
    bench_args = {}
    description = "answers computed from scratch vs served from each cache tier (temperature 0)"
    default_expect = 0.95  # fraction of tier answers identical to the cold one
    logprobs = True

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        per_tier = {t: {"identical": 0, "different": 0} for t in TIERS[1:]}
        vs_vllm_cache = {t: {"identical": 0, "different": 0} for t in TIERS[2:]}
        differences = []
        for repeat, group in rows.groupby("repeat"):
            answers = {row["variant"]: row for _, row in group.iterrows()}
            cold, vllm_cache = answers.get("cold"), answers.get("vllm_cache")
            for tier, row in answers.items():
                if tier == "cold":
                    continue
                if cold is not None:
                    same = row["answer"] == cold["answer"]
                    per_tier[tier]["identical" if same else "different"] += 1
                    if not same:
                        diff = first_difference(_tokens(cold), _tokens(row)) or {}
                        differences.append({"repeat": int(repeat), "tier": tier, **diff, "explained": explained(diff)})
                if tier in vs_vllm_cache and vllm_cache is not None:
                    vs_vllm_cache[tier]["identical" if row["answer"] == vllm_cache["answer"] else "different"] += 1
        return {"per_tier": per_tier, "identical_fraction": _fraction(per_tier),
                "lmcache_vs_vllm_cache": vs_vllm_cache, "lmcache_identical_to_vllm_cache": _fraction(vs_vllm_cache),
                "differences": differences, "unexplained_differences": sum(not d["explained"] for d in differences)}  # fmt: skip

    def summary_lines(self, comparison: dict) -> list[str]:
        def pct(key: str) -> str:
            v = comparison.get(key)
            return "-" if v is None else f"{v:.0%}"

        return [
            f"LMCache answers identical to vLLM's own cache hit: [bold]{pct('lmcache_identical_to_vllm_cache')}[/]",
            f"cached answers identical to the cold one: [bold]{pct('identical_fraction')}[/] "
            f"({len(comparison['differences'])} differences, {comparison['unexplained_differences']} not a near tie)",
        ]

    def check(self, comparison: dict, expect: float | None) -> str | None:
        got = comparison.get("lmcache_identical_to_vllm_cache")
        if expect is not None and (got is None or got < expect):
            return f"{got:.0%} of LMCache answers equal vLLM's own cache hit, below the expected {expect:.0%}" if got is not None \
                else "no answers were compared"  # fmt: skip
        if comparison.get("unexplained_differences"):
            return f"{comparison['unexplained_differences']} answers differ from cold where the cold pick was not a near tie (corrupted KV?)"
        return None


def _fraction(counts: dict) -> float | None:
    total = sum(v["identical"] + v["different"] for v in counts.values())
    return round(sum(v["identical"] for v in counts.values()) / total, 4) if total else None


def _tokens(row) -> list:
    raw = row.get("answer_logprobs")
    return json.loads(raw) if isinstance(raw, str) and raw else []
