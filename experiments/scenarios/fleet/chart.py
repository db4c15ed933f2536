"""The fleet's chart, from its results.csv rows alone."""

from pathlib import Path

import pandas as pd

from experiments.analysis.plot import COLD, DEVICE, HIT, LMCACHE, log_if_wide, plt, save
from experiments.scenarios.fleet.grid import grid


def fleet_grid(df: pd.DataFrame, out: Path) -> str | None:
    """The fleet's grid: per routing policy, one bar per sharing mode, hit share and median TTFT on questions 2..Q."""
    table = grid(df) if "scenario" in df.columns else pd.DataFrame()
    if table.empty:
        return None
    policies = list(dict.fromkeys(table["policy"]))
    modes = list(dict.fromkeys(table["sharing"]))
    colors = dict(zip(["none", "node", "redis"], [COLD, LMCACHE, HIT])) | {m: DEVICE for m in modes if m not in ("none", "node", "redis")}
    fig, (hits_ax, ttft_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    width = 0.8 / len(modes)
    for k, mode in enumerate(modes):
        cells = table[table["sharing"] == mode].set_index("policy").reindex(policies)
        xs = [i + (k - (len(modes) - 1) / 2) * width for i in range(len(policies))]
        hits_ax.bar(xs, cells["hit_share_later"].astype(float) * 100, width, label=mode, color=colors[mode])
        ttft_ax.bar(xs, cells["ttft_p50_later_ms"].astype(float), width, label=mode, color=colors[mode])
    for ax in (hits_ax, ttft_ax):
        ax.set_xticks(range(len(policies)), policies, fontsize=8)
    ttft_ax.legend(fontsize=8, title="sharing", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    hits_ax.set_ylim(0, 105)
    hits_ax.set_ylabel("questions 2..Q that hit, %")
    hits_ax.set_title("Hit share per routing policy", fontsize=11)
    ttft_ax.set_ylabel("time to first token, ms (median, questions 2..Q)")
    ttft_ax.set_title("Median TTFT per routing policy", fontsize=11)
    return save(fig, out, "fleet_grid.png")
