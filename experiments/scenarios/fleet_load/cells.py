"""The fleet_load table, one row per (routing policy, sharing mode, load step), from ``results.csv``
and the step figures the run measured on the servers (``load_steps.csv``), and its pass marks.

A call is a hit when at least half of its prompt came from a cache (its usage's cached tokens).
Rows with an ``error`` are errors, not misses; a call whose stream named no instance of the fleet
is ``unknown`` in the instance share, never guessed.
"""

import pandas as pd

SCENARIO = "fleet_load"
HIT_AT = 0.5
STEPS_CSV = "load_steps.csv"
# The marks, in the highest load step.
KV_OVER_RR_HITS = 2.0  # kv_aware/none hits at least twice as often as round_robin/none
KV_P90_OVER_RR = 1 / 3  # and its p90 TTFT is at most a third of round_robin/none's
MAX_SHARE_OVER_MEAN = 1.5  # while no instance takes more than 1.5x the mean share of the calls


def _errors(rows: pd.DataFrame) -> pd.Series:
    if "error" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["error"].astype("string").fillna("") != ""


def cells(df: pd.DataFrame, steps: pd.DataFrame | None, instances: int) -> list[dict]:
    """Per (cell, step): calls, errors, TTFT p50/p90/p99, calls and prompt tokens per second, hit share
    and mean hit rate, each instance's share (max over mean), and the step's server figures."""
    rows = df[df["scenario"] == SCENARIO]
    out = []
    for (variant, step), g in rows.groupby(["variant", "load_step"], sort=False):
        policy, _, sharing = str(variant).partition("/")
        failed = _errors(g)
        ok = g[~failed]
        wall = (g["started_at"] + g["total_ms"] / 1000).max() - g["started_at"].min() if len(g) else 0
        shares = ok["instance"].astype("string").fillna("unknown").value_counts()
        known = shares.drop("unknown", errors="ignore")
        mean_share = len(ok) / instances if instances else None
        row = {
            "policy": policy, "sharing": sharing, "load_step": int(step), "tenants": g["tenant"].nunique(),
            "calls": len(g), "errors": int(failed.sum()),
            "ttft_p50_ms": _q(ok, 0.5), "ttft_p90_ms": _q(ok, 0.9), "ttft_p99_ms": _q(ok, 0.99),
            "calls_per_s": round(len(ok) / wall, 3) if wall else None,
            "prompt_tokens_per_s": round(ok["prompt_tokens"].sum() / wall, 1) if wall else None,
            "hit_share": round(float((ok["hit_rate"].fillna(0) >= HIT_AT).mean()), 4) if len(ok) else None,
            "hit_rate_mean": round(float(ok["hit_rate"].mean()), 4) if len(ok) else None,
            "calls_per_instance": ", ".join(f"{k} {v}" for k, v in shares.sort_index().items()),
            "unattributed": int(shares.get("unknown", 0)),
            "max_share_over_mean": round(float(known.max()) / mean_share, 3) if len(known) and mean_share else None,
        }  # fmt: skip
        if steps is not None and len(steps):
            match = steps[(steps["variant"] == variant) & (steps["load_step"] == step)]
            if len(match):
                row |= {k: _plain(v) for k, v in match.iloc[-1].items() if k not in ("variant", "load_step", "policy", "sharing")}
        out.append(row)
    return out


def _q(rows: pd.DataFrame, q: float) -> float | None:
    return round(float(rows["ttft_ms"].quantile(q)), 1) if len(rows) else None


def _plain(v):
    return None if isinstance(v, float) and v != v else (v.item() if hasattr(v, "item") else v)


def check(table: list[dict]) -> str | None:
    """The first missed mark in the highest load step, as a line; None when every mark the table can
    judge holds (a cell the run did not have is not judged)."""
    if not table:
        return None
    top = max(r["load_step"] for r in table)
    at = {(r["policy"], r["sharing"]): r for r in table if r["load_step"] == top}
    kv, rr, ch = at.get(("kv_aware", "none")), at.get(("round_robin", "none")), at.get(("consistent_hash", "none"))
    if kv is None:
        return None
    if rr is not None:
        if (kv["hit_share"] or 0) < KV_OVER_RR_HITS * (rr["hit_share"] or 0):
            return f"kv_aware/none hit {kv['hit_share']:.0%} of calls at {top} at once, not twice round_robin/none's {rr['hit_share']:.0%}"
        if kv["ttft_p90_ms"] is not None and rr["ttft_p90_ms"] and kv["ttft_p90_ms"] > KV_P90_OVER_RR * rr["ttft_p90_ms"]:
            return (f"kv_aware/none p90 TTFT {kv['ttft_p90_ms']:.0f} ms at {top} at once is above a third of "
                    f"round_robin/none's {rr['ttft_p90_ms']:.0f} ms")  # fmt: skip
    if ch is not None and (kv["hit_share"] or 0) < (ch["hit_share"] or 0):
        return f"kv_aware/none hit {kv['hit_share']:.0%} of calls at {top} at once, below consistent_hash/none's {ch['hit_share']:.0%}"
    if kv["max_share_over_mean"] is not None and kv["max_share_over_mean"] > MAX_SHARE_OVER_MEAN:
        return f"kv_aware/none put {kv['max_share_over_mean']:.2f}x the mean share of calls on one instance (mark: at most {MAX_SHARE_OVER_MEAN})"
    return None
