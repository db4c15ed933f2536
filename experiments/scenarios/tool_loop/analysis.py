"""The tool loop's pass mark, judged per later turn from results.csv.

A turn's uncached tokens (prompt - cached) may exceed its new tokens (what it adds after the
previous turn's prompt: the last reply and tool result) by less than one unit of the cache that
serves the history: with vLLM's prefix cache in front, one vLLM block; with LMCache alone, one
LMCache chunk (it stores and looks up whole chunks only, so up to a chunk of the shared prefix is
recomputed). The first turn of each question opens a new conversation and is not judged.
"""

import pandas as pd

SCENARIO = "tool_loop"


def later_turns(df: pd.DataFrame) -> pd.DataFrame:
    """The judged rows: the tool loop's turns after the first of their question."""
    return df[(df["scenario"] == SCENARIO) & (df["turn"].fillna(0) >= 2)]


def judged(df: pd.DataFrame, allowance: dict[str, int]) -> pd.DataFrame:
    """The later turns with their limit (new tokens + the configuration's allowance) and whether they kept to it."""
    rows = later_turns(df).copy()
    rows["allowance"] = rows["variant"].map(allowance)
    rows["limit"] = rows["new_tokens"] + rows["allowance"]
    rows["within"] = rows["uncached_tokens"].notna() & rows["limit"].notna() & (rows["uncached_tokens"] <= rows["limit"])
    return rows


def per_turn(df: pd.DataFrame, allowance: dict[str, int]) -> list[dict]:
    """Per configuration and turn (all turns, the first too, for the table and chart): medians of
    the tokens and where the cached ones came from, and for later turns how many kept to the mark."""
    rows = df[(df["scenario"] == SCENARIO) & df["turn"].notna()]
    marks = judged(df, allowance)
    out = []
    for (config, turn), g in rows.groupby(["variant", "turn"], sort=False):
        m = marks[(marks["variant"] == config) & (marks["turn"] == turn)]
        out.append({
            "config": config, "turn": int(turn), "calls": len(g),
            **{c: _median(g[c]) for c in ("prompt_tokens", "new_tokens", "cached_tokens", "device_hit_tokens",
                                          "lmcache_hit_tokens", "uncached_tokens")},
            "allowance": allowance.get(config),
            "within": None if turn < 2 else f"{int(m['within'].sum())}/{len(m)}",
            "worst_excess": None if m.empty else int((m["uncached_tokens"] - m["new_tokens"]).max()),
        })  # fmt: skip
    return sorted(out, key=lambda r: (list(allowance).index(r["config"]) if r["config"] in allowance else 99, r["turn"]))


def checks(df: pd.DataFrame, allowance: dict[str, int]) -> list[str]:
    """One line per failure: a configuration with no later turns, or a later turn above its mark."""
    marks = judged(df, allowance)
    failures = []
    for config, unit in allowance.items():
        m = marks[marks["variant"] == config]
        if m.empty:
            failures.append(f"{config}: no later turns recorded")
            continue
        bad = m[~m["within"]]
        if len(bad):
            r = bad.iloc[0]
            failures.append(f"{config}: {len(bad)} of {len(m)} later turns computed more than their new tokens + {unit}, "
                            f"e.g. turn {int(r['turn'])}: {r['uncached_tokens']:.0f} uncached, {r['new_tokens']:.0f} new")  # fmt: skip
    return failures


def _median(s: pd.Series) -> float | None:
    s = s.dropna()
    return None if s.empty else float(s.median())
