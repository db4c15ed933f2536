"""The fleet scenario's grid, read from results.csv alone: one row per (routing policy, sharing mode) cell.

A fleet row's variant is its cell, ``<policy>/<sharing>``; question 1 of each session is the cold
start by design, so the hit figures are over questions 2..Q. A question is a hit when at least half
of its prompt came from a cache (a hit serves all but the last partial chunk; a miss serves none).
Rows with an ``error`` count as errors, not as misses.
"""

import pandas as pd

SCENARIO = "fleet"
HIT_AT = 0.5


def cell_of(variant: str) -> tuple[str, str]:
    policy, _, sharing = str(variant).partition("/")
    return policy, sharing


def fleet_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["scenario"] == SCENARIO]


def _errors(rows: pd.DataFrame) -> pd.Series:
    if "error" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["error"].astype("string").fillna("") != ""


def grid(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell: sessions, calls, errors, hit share and mean token hit rate on questions 2..Q,
    TTFT p50/p95 on questions 2..Q, calls per instance, and the measured sources of the hits."""
    rows = fleet_rows(df)
    out = []
    for variant, cell in rows.groupby("variant", sort=False):
        policy, sharing = cell_of(variant)
        failed = _errors(cell)
        ok = cell[~failed]
        later = ok[ok["question_id"] > 0]
        hits = later["hit_rate"].fillna(0) >= HIT_AT
        per_instance = ok["instance"].astype("string").fillna("unknown").value_counts().sort_index()
        sources = later["hit_source"].astype("string").fillna("unknown").value_counts().sort_index() if "hit_source" in later else {}
        out.append({
            "policy": policy,
            "sharing": sharing,
            "sessions": cell["session"].nunique(),
            "calls": len(cell),
            "errors": int(failed.sum()),
            "later_calls": len(later),
            "hit_share_later": round(hits.mean(), 4) if len(later) else None,
            "hit_rate_later_mean": round(later["hit_rate"].mean(), 4) if len(later) else None,
            "ttft_p50_later_ms": later["ttft_ms"].quantile(0.5) if len(later) else None,
            "ttft_p95_later_ms": later["ttft_ms"].quantile(0.95) if len(later) else None,
            "calls_per_instance": ", ".join(f"{k} {v}" for k, v in per_instance.items()),
            "later_sources": ", ".join(f"{k} {v}" for k, v in dict(sources).items()),
        })  # fmt: skip
    return pd.DataFrame(out)


def round_robin_alone_share(questions: int, instances: int) -> float:
    """round_robin without sharing, calls one at a time: the first N calls of a session go one to each
    instance, each of them cold, so the hits are questions N+1..Q: (Q - N) / (Q - 1) of questions 2..Q."""
    if questions < 2:
        return 0.0
    return max(questions - instances, 0) / (questions - 1)
