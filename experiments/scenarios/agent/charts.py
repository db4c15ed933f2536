"""The agent's charts, from its results.csv rows alone: which node pays the cold prefill, hits per node, follow-up turns."""

from pathlib import Path

import pandas as pd

from experiments.analysis.plot import COLD, DEVICE, HIT, LMCACHE, log_if_wide, plt, save
from prompts.agent import NODES

NODE_COLORS = {"plan": "#dd8452", "answer": HIT, "check": LMCACHE}


def _agent_rows(df: pd.DataFrame) -> pd.DataFrame:
    if "node" not in df.columns:
        return df.iloc[0:0]
    return df[df["node"].isin(NODES)]


def agent_waterfall(df: pd.DataFrame, out: Path) -> str | None:
    """Per question, each agent node's TTFT laid end to end (median over sessions), one bar per
    variant: which node pays the cold start, and what it costs the question."""
    rows = _agent_rows(df)
    if rows.empty:
        return None
    # A retried answer counts twice in its question: sum per session first, then the median over sessions.
    per_session = rows.groupby(["variant", "session", "question_id", "node"], sort=False)["ttft_ms"].sum()
    table = per_session.groupby(["question_id", "variant", "node"], sort=False).median().unstack("node").fillna(0)
    table = table.reindex(columns=[n for n in NODES if n in table.columns])
    labels = [f"q{q + 1}  {v}" for q, v in table.index]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.32 * len(table) + 1.4)))
    y = list(range(len(table)))[::-1]
    left = pd.Series(0.0, index=table.index)
    for node in table.columns:
        ax.barh(y, table[node], left=left, color=NODE_COLORS[node], label=node, height=0.7)
        left = left + table[node]
    for yi, total in zip(y, left):
        ax.annotate(f"{total:,.0f} ms", (total, yi), va="center", xytext=(3, 0), textcoords="offset points", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(0, left.max() * 1.15)
    ax.set_xlabel("time to first token of each node, ms, end to end (median over sessions)")
    ax.set_title("Agent nodes per question: who pays the cold prefill", fontsize=11)
    ax.legend(fontsize=8, title="node", title_fontsize=8, loc="lower right")
    return save(fig, out, "agent_waterfall.png")


def agent_hit_rate_by_node(df: pd.DataFrame, out: Path) -> str | None:
    """Share of prompt tokens served from cache per agent node, one bar per variant (all calls, cold ones included)."""
    rows = _agent_rows(df)
    if rows.empty:
        return None
    table = rows.groupby(["node", "variant"], sort=False)["hit_rate"].mean().unstack("variant").fillna(0)
    table = table.reindex([n for n in NODES if n in table.index])
    width = 0.8 / len(table.columns)
    fig, ax = plt.subplots(figsize=(min(10, max(5, 0.6 * len(table) * len(table.columns) + 2)), 4.2))
    for i, variant in enumerate(table.columns):
        xs = [j + (i - (len(table.columns) - 1) / 2) * width for j in range(len(table))]
        bars = ax.bar(xs, table[variant] * 100, width=width * 0.95, label=variant)
        for bar, value in zip(bars, table[variant] * 100):
            ax.annotate(f"{value:.0f}%", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                        xytext=(0, 2), textcoords="offset points", fontsize=7)  # fmt: skip
    ax.set_xticks(range(len(table)), list(table.index))
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("prompt tokens from cache, % (mean over all calls)")
    ax.set_title("Cache hit rate per agent node and variant", fontsize=11)
    ax.legend(fontsize=8, ncol=2, loc="upper center")
    return save(fig, out, "agent_hit_rate_by_node.png")


def followup_cached_tokens(df: pd.DataFrame, out: Path) -> str | None:
    """Follow-up turns 2..N (turn 1 is cold by design): the tokens each turn's first call shares
    with the earlier turns and those the cache served, appended history vs a rewritten one."""
    rows = _agent_rows(df)
    if "turn" not in rows.columns:
        return None
    rows = rows[rows["turn"].notna()]
    first = rows.sort_values("started_at").groupby(["session", "turn"], sort=False).head(1)
    first = first[first["turn"] >= 2]
    if first["turn"].nunique() < 2:  # growth needs three turns or more
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for variant, calls in first.groupby("variant", sort=False):
        per_turn = calls.groupby("turn")[["shared_prefix_tokens", "cached_tokens", "prompt_tokens"]].median()
        line = ax.plot(per_turn.index, per_turn["shared_prefix_tokens"], marker="o", label=f"{variant}: shared with earlier turns")
        color = line[0].get_color()
        ax.plot(per_turn.index, per_turn["cached_tokens"], marker="s", ls="--", color=color, label=f"{variant}: cached")
        ax.plot(per_turn.index, per_turn["prompt_tokens"], ls=":", color=color, label=f"{variant}: prompt")
    static = first["static_prefix_tokens"].median()
    ax.axhline(static, color="grey", lw=0.8, ls="-.", label="static prefix (system text + manual)")
    ax.set_ylim(static - 320, first["prompt_tokens"].max() + 40)
    ax.set_xticks(sorted(int(t) for t in first["turn"].unique()))
    ax.set_xlabel("turn of the conversation")
    ax.set_ylabel("tokens of the turn's first call (median)")
    ax.set_title("Follow-up turns: an appended history stays reusable, a rewritten one does not", fontsize=10)
    ax.legend(fontsize=7)
    return save(fig, out, "followup_cached_tokens.png")
