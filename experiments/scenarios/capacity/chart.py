"""The capacity chart: hit rate and TTFT against the working set, each tier's capacity marked."""

import json
from pathlib import Path

import pandas as pd

from experiments.analysis.plot import COLD, DEVICE, HIT, LMCACHE, log_if_wide, plt, save
from experiments.scenarios.capacity.analysis import hit_share

CONFIG_COLOURS = {"vllm_only": DEVICE, "lmcache_memory": LMCACHE, "lmcache_disk": "#dd8452"}
TIER_STYLES = {"vllm_kv": (DEVICE, ":"), "lmcache_l1": (LMCACHE, "--"), "lmcache_disk": ("#dd8452", "-.")}


def capacity_points(df: pd.DataFrame) -> pd.DataFrame:
    """One point per configuration, pattern and working-set size W of the rotation passes: the median
    working-set tokens (x), the mean hit share of reusable tokens and the median TTFT. Grouped by W,
    not by tokens: manual editions differ by a token or so (``m9`` vs ``m10``), so one W spans two
    token counts and grouping by them would draw two points for one step."""
    if "working_set_tokens" not in df.columns or "rotation_pass" not in df.columns:
        return pd.DataFrame()
    rows = df[(df["scenario"] == "capacity") & (df["rotation_pass"].fillna(0) > 0) & df["working_set_tokens"].notna()]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(share=hit_share(rows))
    return (rows.groupby(["tier", "access_pattern", "working_set_manuals"], sort=False)
            .agg(working_set_tokens=("working_set_tokens", "median"), hit=("share", "mean"), ttft=("ttft_ms", "median"))
            .reset_index().sort_values("working_set_manuals", kind="stable"))  # fmt: skip


def capacity_curves(df: pd.DataFrame, out: Path) -> str | None:
    """Hit rate (top) and median TTFT (bottom) against working-set tokens, one line per
    configuration (round robin; Zipf-like dashed), with each tier's capacity as a vertical line (from
    the capacity model, in summary.json)."""
    points = capacity_points(df)
    if points.empty:
        return None
    rows = df[(df["scenario"] == "capacity") & (df["rotation_pass"].fillna(0) > 0)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True)
    for (config, pattern), per in points.groupby(["tier", "access_pattern"], sort=False):
        style = "-" if pattern == "round_robin" else "--"
        label = f"{config} ({pattern.replace('_', ' ')})"
        colour = CONFIG_COLOURS.get(config)
        top.plot(per["working_set_tokens"], per["hit"] * 100, style, marker="o", color=colour, label=label)
        bottom.plot(per["working_set_tokens"], per["ttft"], style, marker="o", color=colour, label=label)
    summary = _read_json(out / "summary.json")
    capacity = (((summary.get("scenarios") or {}).get("capacity") or {}).get("comparison") or {}).get("capacity") or {}
    for name, tier in (capacity.get("tiers") or {}).items():
        x = tier.get("working_set_tokens")
        if not x:
            continue
        colour, style = TIER_STYLES.get(name, ("grey", ":"))
        gib = f"{tier['bytes'] / 2**30:.3g} GiB" if tier.get("bytes") else "?"
        label = f"{tier['label']}: {gib} = {tier['tokens']:,} tokens = {tier['manuals']} manuals"
        for ax in (top, bottom):
            ax.axvline(x, color=colour, linestyle=style, linewidth=1.2, label=label if ax is top else None)
    top.axhline(90, color="grey", linewidth=0.6)
    top.set_ylabel("hit rate, % of reusable tokens")
    top.set_ylim(-5, 105)
    kv = capacity.get("kv_bytes_per_token")
    top.set_title(f"Working set vs cache tiers{f' (KV {kv:,} bytes per token)' if kv else ''}", fontsize=11)
    top.legend(fontsize=7, loc="lower left")
    log_if_wide(bottom, rows["ttft_ms"].tolist())
    bottom.set_ylabel("time to first token, ms (median)")
    bottom.set_xlabel("working set, tokens (manuals in rotation x static prefix)")
    bottom.legend(fontsize=7, loc="upper left")
    return save(fig, out, "capacity_hit_rate_ttft.png")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
