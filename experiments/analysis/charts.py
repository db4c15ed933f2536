"""Charts of a run, drawn from its results.csv alone, so any past run folder can be redrawn.

The charts here read any run's rows; a scenario's own charts live in its package and are listed on
its registry entry (``Scenario.charts``). Each chart is drawn only when the results hold the rows it
needs; ``draw_charts`` returns the charts it wrote, as (file name, title).
"""

from pathlib import Path

import pandas as pd

from experiments.analysis.plot import COLD, DEVICE, HIT, LMCACHE, log_if_wide, plt, save
from experiments.scenarios import SCENARIOS

def one_call_per_question(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of paths that make one call per question (qa graph, bare clients): a path that makes
    several calls per question (an agent's nodes) has charts of its own."""
    if df.empty:
        return df
    calls = df.groupby(["session", "question_id"])["question_id"].transform("size")
    return df[calls == 1]


def ttft_cold_vs_hit(df: pd.DataFrame, out: Path) -> str | None:
    """Median TTFT of cold calls vs cache hits, each call as a dot, the reduction labelled."""
    rows = df[df["variant"].isin(["cold", "hit"])]
    # A sweep's cold/hit rows mix manual sizes: where a scenario beside it kept one size, use that one's.
    one_size = rows.groupby("scenario")["manual_tokens"].transform("nunique") <= 1 if "manual_tokens" in rows else None
    if one_size is not None and one_size.any():
        rows = rows[one_size]
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
    return save(fig, out, "ttft_cold_vs_hit.png")


def hit_rate_by_layout(df: pd.DataFrame, out: Path) -> str | None:
    """Share of prompt tokens served from cache per layout, split into vLLM's own cache and LMCache.

    Only questions after the first of each session: the first one is cold by design."""
    if "layout" not in df.columns:
        return None
    rows = one_call_per_question(df)
    rows = rows[rows["question_id"] > 0]
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
    return save(fig, out, "hit_rate_by_layout.png")


def ttft_per_question(df: pd.DataFrame, out: Path) -> str | None:
    """Median TTFT of question 1..N of a session, one line per layout."""
    df = one_call_per_question(df)
    if "layout" not in df.columns or df["question_id"].nunique() < 2:
        return None
    table = df.groupby(["layout", "question_id"], sort=False)["ttft_ms"].median().unstack(0)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for layout in table.columns:
        ax.plot(table.index + 1, table[layout], marker="o", label=layout)
    log_if_wide(ax, table.values.ravel())
    ax.set_xticks(list(table.index + 1))
    ax.set_xlabel("question of the session")
    ax.set_ylabel("time to first token, ms (median over sessions)")
    ax.set_title("TTFT per question over a session", fontsize=11)
    ax.legend(fontsize=8, title="layout", title_fontsize=8)
    return save(fig, out, "ttft_per_question.png")


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
    return save(fig, out, "ttft_vs_manual_tokens.png")


CHARTS = [
    (ttft_cold_vs_hit, "TTFT, cold vs cache hit"),
    (hit_rate_by_layout, "Hit rate by layout (vLLM cache vs LMCache)"),
    (ttft_per_question, "TTFT per question over a session"),
    (ttft_vs_manual_tokens, "TTFT vs manual size, cold and hit"),
]


def charts_for(df: pd.DataFrame) -> list:
    """The charts above, then those of each scenario the rows hold (in registry order, each once)."""
    present = set(df["scenario"]) if "scenario" in df.columns else set()
    own = [c for s in SCENARIOS.values() if s.name in present for c in s.charts]
    return CHARTS + list(dict.fromkeys(own))


def draw_charts(df: pd.DataFrame, out: Path) -> list[tuple[str, str]]:
    """Write every chart the results allow into ``out``; returns [(file name, title)]."""
    out = Path(out)
    written = []
    for draw, title in charts_for(df):
        name = draw(df, out)
        if name:
            written.append((name, title))
    return written
