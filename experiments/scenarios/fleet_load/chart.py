"""fleet_load's charts, from its results.csv rows alone."""

from pathlib import Path

import pandas as pd

from experiments.analysis.plot import plt, save
from experiments.scenarios.fleet_load.cells import SCENARIO, cells


def _table(df: pd.DataFrame) -> pd.DataFrame:
    if "scenario" not in df.columns or "load_step" not in df.columns or not (df["scenario"] == SCENARIO).any():
        return pd.DataFrame()
    rows = df[df["scenario"] == SCENARIO]
    instances = max(rows["instance"].astype("string").fillna("unknown").replace("unknown", pd.NA).nunique(), 1)
    return pd.DataFrame(cells(df, None, instances))


def p90_against_load(df: pd.DataFrame, out: Path) -> str | None:
    """p90 TTFT against the sessions at once, one line per routing policy, one panel per sharing mode."""
    table = _table(df)
    if table.empty:
        return None
    modes = list(dict.fromkeys(table["sharing"]))
    fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 4), squeeze=False, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for policy, g in table[table["sharing"] == mode].groupby("policy", sort=False):
            g = g.sort_values("load_step")
            ax.plot(g["load_step"], g["ttft_p90_ms"], marker="o", label=policy)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(table["load_step"].unique()), [str(s) for s in sorted(table["load_step"].unique())])
        ax.set_xlabel("sessions at once")
        ax.set_title(f"sharing: {mode}", fontsize=11)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("time to first token, ms (p90)")
    return save(fig, out, "fleet_load_p90.png")


def hits_and_share(df: pd.DataFrame, out: Path) -> str | None:
    """Per cell and step: the share of calls that hit, and the busiest instance's share over the mean."""
    table = _table(df)
    if table.empty:
        return None
    table["cell"] = table["policy"] + "/" + table["sharing"] + " @" + table["load_step"].astype(str)
    fig, (hits_ax, share_ax) = plt.subplots(1, 2, figsize=(11, max(3, 0.35 * len(table) + 1)))
    hits_ax.barh(table["cell"], table["hit_share"].astype(float) * 100)
    hits_ax.set_xlim(0, 105)
    hits_ax.set_xlabel("calls that hit, %")
    share_ax.barh(table["cell"], table["max_share_over_mean"].astype(float))
    share_ax.axvline(1.5, linestyle="--", linewidth=1)
    share_ax.set_xlabel("busiest instance's calls / mean (1 = even)")
    for ax in (hits_ax, share_ax):
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
    share_ax.set_yticklabels([])
    return save(fig, out, "fleet_load_cells.png")
