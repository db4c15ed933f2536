"""Does reuse change the answer? The tiers plan at temperature 0 with logprobs: each tier's answer is
compared with the one computed from scratch for the same prompt. A difference is reported with the
first differing token and the logprob margin there, to tell numerical noise (a near tie between two
tokens) from corruption (a confident token replaced)."""

import json

import pandas as pd

from experiments.scenarios.tiers import TIERS, Tiers


def first_difference(cold: list, other: list) -> dict | None:
    """Where two answers' token lists part, with the logprobs on both sides; None when identical."""
    for i, (c, o) in enumerate(zip(cold, other, strict=False)):
        if c[0] != o[0]:
            return {
                "position": i, "cold_token": c[0], "tier_token": o[0], "cold_logprob": c[1], "tier_logprob": o[1],
                # Margin between the cold run's top two candidates: near 0 means a tie that noise can flip.
                "cold_top2_margin": round(c[1] - c[3], 5) if c[3] == c[3] else None,
            }  # fmt: skip
    if len(cold) != len(other):
        return {"position": min(len(cold), len(other)), "cold_token": None, "tier_token": None, "note": "one answer is longer"}
    return None


class Equivalence(Tiers):
    name = "equivalence"
    description = "answers computed from scratch vs served from each cache tier (temperature 0)"
    default_expect = 0.95  # fraction of tier answers identical to the cold one
    logprobs = True

    def comparison(self, df: pd.DataFrame) -> dict:
        rows = df[df["scenario"] == self.name]
        per_tier = {t: {"identical": 0, "different": 0} for t in TIERS[1:]}
        differences = []
        for repeat, group in rows.groupby("repeat"):
            cold = group[group["variant"] == "cold"]
            if cold.empty:
                continue
            cold_row = cold.iloc[0]
            for _, row in group[group["variant"] != "cold"].iterrows():
                same = row["answer"] == cold_row["answer"]
                per_tier[row["variant"]]["identical" if same else "different"] += 1
                if not same:
                    diff = first_difference(_tokens(cold_row), _tokens(row))
                    differences.append({"repeat": int(repeat), "tier": row["variant"], **(diff or {})})
        total = sum(v["identical"] + v["different"] for v in per_tier.values())
        identical = sum(v["identical"] for v in per_tier.values())
        return {"per_tier": per_tier, "identical_fraction": round(identical / total, 4) if total else None,
                "differences": differences}  # fmt: skip

    def check(self, comparison: dict, expect: float | None) -> str | None:
        got = comparison.get("identical_fraction")
        if expect is not None and (got is None or got < expect):
            return f"{got:.0%} of cached answers equal the cold one, below the expected {expect:.0%}" if got is not None \
                else "no answers were compared"  # fmt: skip
        return None


def _tokens(row) -> list:
    raw = row.get("answer_logprobs")
    return json.loads(raw) if isinstance(raw, str) and raw else []
