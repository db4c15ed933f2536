"""Charts of a run, drawn from its results.csv alone, so any past run folder can be redrawn.

Each chart is drawn only when the results hold the rows it needs; ``draw_charts`` returns the
charts it wrote, as (file name, title).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in tests
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 110
COLD, HIT = "#c44e52", "#4c72b0"
DEVICE, LMCACHE = "#8172b2", "#55a868"


def _log_if_wide(ax, values) -> None:
    """Cold and hit TTFT differ by 10-30x: a log axis keeps both readable."""
    values = [v for v in values if v and v > 0]
    if values and max(values) / min(values) > 20:
        ax.set_yscale("log")


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return name


def ttft_cold_vs_hit(df: pd.DataFrame, out: Path) -> str | None:
    """Median TTFT of cold calls vs cache hits, each call as a dot, the reduction labelled."""
    rows = df[df["variant"].isin(["cold", "hit"])]
    if (rows["scenario"] == "cold_hit").any():  # a sweep's cold/hit rows mix manual sizes
        rows = rows[rows["scenario"] == "cold_hit"]
    if rows["variant"].nunique() < 2:
        return None
    medians = rows.groupby("variant")["ttft_ms"].median().reindex(["cold", "hit"])
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    bars = ax.bar(["cold (first question)", "hit (next questions)"], medians.values, color=[COLD, HIT], width=0.55)
    for i, variant in enumerate(["cold", "hit"]):
        ys = rows.loc[rows["variant"] == variant, "ttft_ms"]
        ax.scatter([i] * len(ys), ys, color="black", s=10, zorder=3, alpha=0.6)
    for bar, value in zip(bars, medians.values):
        ax.annotate(f"{value:,.0f} ms", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                    xytext=(0, 3), textcoords="offset points")  # fmt: skip
    cut = 1 - medians["hit"] / medians["cold"]
    ax.set_title(f"TTFT, cold vs cache hit: {cut:.1%} lower on hits", fontsize=11)
    ax.set_ylabel("time to first token, ms (median; dots: calls)")
    ax.set_ylim(0, medians.max() * 1.18)
    return _save(fig, out, "ttft_cold_vs_hit.png")


def hit_rate_by_layout(df: pd.DataFrame, out: Path) -> str | None:
    """Share of prompt tokens served from cache per layout, split into vLLM's own cache and LMCache.

    Only questions after the first of each session: the first one is cold by design."""
    if "layout" not in df.columns:
        return None
    rows = df[df["question_id"] > 0]
    if rows.empty:
        return None
    g = rows.groupby("layout", sort=False)
    device = g["device_hit_rate"].mean().fillna(0)
    lmcache = g["lmcache_hit_rate"].mean().fillna(0)
    # Without /metrics the source is unknown: that share is shown apart, never guessed.
    unknown = (g["hit_rate"].mean().fillna(0) - device - lmcache).clip(lower=0).round(4)
    x = range(len(device))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(device) + 2), 4.2))
    ax.bar(x, device * 100, color=DEVICE, label="vLLM prefix cache (device)", width=0.55)
    ax.bar(x, lmcache * 100, bottom=device * 100, color=LMCACHE, label="LMCache", width=0.55)
    if unknown.max() > 0:
        ax.bar(x, unknown * 100, bottom=(device + lmcache) * 100, color="#bbbbbb", label="source unknown", width=0.55)
    for i, total in enumerate((device + lmcache + unknown) * 100):
        ax.annotate(f"{total:.1f}%", (i, total), ha="center", va="bottom", xytext=(0, 3), textcoords="offset points")
    ax.set_xticks(list(x), list(device.index))
    ax.set_xlim(-0.7, len(device) - 0.3)
    ax.set_ylim(0, 128)  # headroom for the legend above the bars
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("prompt tokens from cache, % (questions 2..N)")
    ax.set_title("Cache hit rate by prompt layout", fontsize=11)
    ax.legend(loc="upper center", fontsize=8, ncol=3)
    return _save(fig, out, "hit_rate_by_layout.png")


def ttft_per_question(df: pd.DataFrame, out: Path) -> str | None:
    """Median TTFT of question 1..N of a session, one line per layout."""
    if "layout" not in df.columns or df["question_id"].nunique() < 2:
        return None
    table = df.groupby(["layout", "question_id"], sort=False)["ttft_ms"].median().unstack(0)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for layout in table.columns:
        ax.plot(table.index + 1, table[layout], marker="o", label=layout)
    _log_if_wide(ax, table.values.ravel())
    ax.set_xticks(list(table.index + 1))
    ax.set_xlabel("question of the session")
    ax.set_ylabel("time to first token, ms (median over sessions)")
    ax.set_title("TTFT per question over a session", fontsize=11)
    ax.legend(fontsize=8, title="layout", title_fontsize=8)
    return _save(fig, out, "ttft_per_question.png")


def ttft_vs_manual_tokens(df: pd.DataFrame, out: Path) -> str | None:
    """Cold and hit TTFT against the manual's size, when the run swept it (a ``manual_tokens`` column)."""
    if "manual_tokens" not in df.columns:
        return None
    rows = df[df["variant"].isin(["cold", "hit"]) & df["manual_tokens"].notna()]
    if rows["manual_tokens"].nunique() < 2 or rows["variant"].nunique() < 2:
        return None
    table = rows.groupby(["manual_tokens", "variant"])["ttft_ms"].median().unstack("variant").sort_index()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(table.index, table["cold"], marker="o", color=COLD, label="cold")
    ax.plot(table.index, table["hit"], marker="o", color=HIT, label="hit")
    ax.set_xlabel("manual size, tokens")
    ax.set_ylabel("time to first token, ms (median)")
    ax.set_title("TTFT vs manual size: cold grows with it, hits stay low", fontsize=11)
    ax.legend(fontsize=8)
    return _save(fig, out, "ttft_vs_manual_tokens.png")


def fleet_grid(df: pd.DataFrame, out: Path) -> str | None:
    """The fleet's grid: per routing policy, one bar per sharing mode, hit share and median TTFT on questions 2..Q."""
    from experiments.fleet_grid import grid  # the fleet scenario's own reading of its rows

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
        ax.legend(fontsize=8, title="sharing", title_fontsize=8)
    hits_ax.set_ylim(0, 105)
    hits_ax.set_ylabel("questions 2..Q that hit, %")
    hits_ax.set_title("Hit share per routing policy", fontsize=11)
    ttft_ax.set_ylabel("time to first token, ms (median, questions 2..Q)")
    ttft_ax.set_title("Median TTFT per routing policy", fontsize=11)
    return _save(fig, out, "fleet_grid.png")


CHARTS = [
    (ttft_cold_vs_hit, "TTFT, cold vs cache hit"),
    (hit_rate_by_layout, "Hit rate by layout (vLLM cache vs LMCache)"),
    (ttft_per_question, "TTFT per question over a session"),
    (ttft_vs_manual_tokens, "TTFT vs manual size, cold and hit"),
    (fleet_grid, "Fleet: hit share and median TTFT per routing policy and sharing mode"),
]


def draw_charts(df: pd.DataFrame, out: Path) -> list[tuple[str, str]]:
    """Write every chart the results allow into ``out``; returns [(file name, title)]."""
    out = Path(out)
    written = []
    for draw, title in CHARTS:
        name = draw(df, out)
        if name:
            written.append((name, title))
    return written
