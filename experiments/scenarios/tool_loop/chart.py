"""The tool loop's chart: uncached tokens per turn, per configuration, against the tokens each turn adds."""

from pathlib import Path

import pandas as pd

from experiments.analysis.plot import plt, save
from experiments.scenarios.tool_loop.analysis import SCENARIO


def uncached_per_turn(df: pd.DataFrame, out: Path) -> str | None:
    """Median uncached tokens per turn, one line per configuration; dashed, the median new tokens
    (the floor: what the turn adds after the previous turn's prompt)."""
    rows = df[(df["scenario"] == SCENARIO) & df["turn"].notna() & df["uncached_tokens"].notna()]
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for config, g in rows.groupby("variant", sort=False):
        by_turn = g.groupby("turn")
        line = ax.plot(by_turn["uncached_tokens"].median(), marker="o", label=f"{config}: uncached")[0]
        ax.plot(by_turn["new_tokens"].median(), linestyle="--", color=line.get_color(), alpha=0.6, label=f"{config}: new")
    ax.set_xlabel("turn")
    ax.set_ylabel("tokens (median over questions)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("Tool loop: tokens computed per turn, per cache configuration", fontsize=11)
    return save(fig, out, "tool_loop_uncached_per_turn.png")
