"""Charts of a run, drawn from its results.csv alone, so any past run folder can be redrawn.

Each chart is drawn only when the results hold the rows it needs; ``draw_charts`` returns the
charts it wrote, as (file name, title).
"""

import json
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


AGENT_NODES = ("plan", "answer", "check")


def one_call_per_question(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of paths that make one call per question (qa graph, bare clients): an agent's
    several calls per question have charts of their own."""
    return df[~df["node"].isin(AGENT_NODES)] if "node" in df.columns else df


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
    return _save(fig, out, "hit_rate_by_layout.png")


def ttft_per_question(df: pd.DataFrame, out: Path) -> str | None:
    """Median TTFT of question 1..N of a session, one line per layout."""
    df = one_call_per_question(df)
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
    ttft_ax.legend(fontsize=8, title="sharing", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    hits_ax.set_ylim(0, 105)
    hits_ax.set_ylabel("questions 2..Q that hit, %")
    hits_ax.set_title("Hit share per routing policy", fontsize=11)
    ttft_ax.set_ylabel("time to first token, ms (median, questions 2..Q)")
    ttft_ax.set_title("Median TTFT per routing policy", fontsize=11)
    return _save(fig, out, "fleet_grid.png")
NODE_COLORS = {"plan": "#dd8452", "answer": HIT, "check": LMCACHE}


def _agent_rows(df: pd.DataFrame) -> pd.DataFrame:
    if "node" not in df.columns:
        return df.iloc[0:0]
    return df[df["node"].isin(AGENT_NODES)]


def agent_waterfall(df: pd.DataFrame, out: Path) -> str | None:
    """Per question, each agent node's TTFT laid end to end (median over sessions), one bar per
    variant: which node pays the cold start, and what it costs the question."""
    rows = _agent_rows(df)
    if rows.empty:
        return None
    # A retried answer counts twice in its question: sum per session first, then the median over sessions.
    per_session = rows.groupby(["variant", "session", "question_id", "node"], sort=False)["ttft_ms"].sum()
    table = per_session.groupby(["question_id", "variant", "node"], sort=False).median().unstack("node").fillna(0)
    table = table.reindex(columns=[n for n in AGENT_NODES if n in table.columns])
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
    return _save(fig, out, "agent_waterfall.png")


def agent_hit_rate_by_node(df: pd.DataFrame, out: Path) -> str | None:
    """Share of prompt tokens served from cache per agent node, one bar per variant (all calls, cold ones included)."""
    rows = _agent_rows(df)
    if rows.empty:
        return None
    table = rows.groupby(["node", "variant"], sort=False)["hit_rate"].mean().unstack("variant").fillna(0)
    table = table.reindex([n for n in AGENT_NODES if n in table.index])
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
    return _save(fig, out, "agent_hit_rate_by_node.png")


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
    return _save(fig, out, "followup_cached_tokens.png")


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
    reusable = rows["reusable_tokens"].where(rows["reusable_tokens"] > 0)
    rows = rows.assign(share=(rows["cached_tokens"] / reusable).clip(upper=1).fillna(0))
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
    _log_if_wide(bottom, rows["ttft_ms"].tolist())
    bottom.set_ylabel("time to first token, ms (median)")
    bottom.set_xlabel("working set, tokens (manuals in rotation x static prefix)")
    bottom.legend(fontsize=7, loc="upper left")
    return _save(fig, out, "capacity_hit_rate_ttft.png")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
def soak_over_time(df: pd.DataFrame, out: Path) -> str | None:
    """A soak run's resources and TTFT over time: each server's RSS and open files, the disk tier and
    /dev/shm (from the run's samples.csv), and every call's TTFT (from results.csv)."""
    samples_path = out / "samples.csv"
    if not samples_path.is_file() or not (df["scenario"] == "soak").any():
        return None
    samples = pd.read_csv(samples_path)
    minutes = (samples["t"] - samples["t"].min()) / 60
    t0 = samples["t"].min()
    fig, axes = plt.subplots(4, 1, figsize=(7, 9), sharex=True)
    for col in (c for c in samples.columns if c.endswith("_rss_mib")):
        axes[0].plot(minutes, samples[col], label=col.removesuffix("_rss_mib"))
    axes[0].set_ylabel("RSS, MiB")
    axes[0].legend(fontsize=7, ncol=3)
    for col in (c for c in samples.columns if c.endswith("_fds")):
        axes[1].plot(minutes, samples[col], label=col.removesuffix("_fds"))
    axes[1].set_ylabel("open files")
    axes[2].plot(minutes, samples["shm_used_mib"], label="/dev/shm used")
    if samples["disk_mib"].notna().any():
        axes[2].plot(minutes, samples["disk_mib"], label="LMCache disk tier")
    axes[2].set_ylabel("MiB")
    axes[2].legend(fontsize=7)
    calls = df[df["scenario"] == "soak"]
    for variant, color in (("cold", COLD), ("hit", HIT)):
        rows = calls[calls["variant"] == variant]
        axes[3].scatter((rows["started_at"] - t0) / 60, rows["ttft_ms"], s=6, color=color, label=variant)
    _log_if_wide(axes[3], calls["ttft_ms"])
    axes[3].set_ylabel("TTFT, ms")
    axes[3].set_xlabel("minutes into the soak")
    axes[3].legend(fontsize=7)
    axes[0].set_title("Soak: resources and TTFT over time", fontsize=11)
    return _save(fig, out, "soak_over_time.png")


CHARTS = [
    (ttft_cold_vs_hit, "TTFT, cold vs cache hit"),
    (hit_rate_by_layout, "Hit rate by layout (vLLM cache vs LMCache)"),
    (ttft_per_question, "TTFT per question over a session"),
    (ttft_vs_manual_tokens, "TTFT vs manual size, cold and hit"),
    (fleet_grid, "Fleet: hit share and median TTFT per routing policy and sharing mode"),
    (agent_waterfall, "Agent nodes per question, TTFT end to end"),
    (agent_hit_rate_by_node, "Cache hit rate per agent node and variant"),
    (followup_cached_tokens, "Follow-up turns: reusable and cached tokens per turn"),
    (capacity_curves, "Hit rate and TTFT vs working set, per cache configuration"),
    (soak_over_time, "Soak: resources and TTFT over time"),
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
