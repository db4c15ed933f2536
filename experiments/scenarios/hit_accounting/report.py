"""The hit accounting's files: the calls table and LMCache lines it reads, ``accounting.json`` and a
stacked bar chart per manual size and stack (``hit_accounting.png``).

``python -m experiments.accounting_report RUN_DIR`` does the analysis again from a run folder.
"""

import json
from datetime import datetime
from pathlib import Path

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from experiments.scenarios.hit_accounting.accounting import account, parse_log

LOG_COPY = "lmcache-requests.log"
OLD_CALLS_CSV = "accounting-calls.csv"  # what the first H200 run wrote, before results.csv had response ids
# LMCache's lines worth keeping beside the results: per-request lookups, stores, retrieves (and the
# cache server's prefetches, which name the request).
KEPT_LINES = ("Retrieved", "Stored", "LMCache hit tokens", "Prefetch request completed")

COLORS = {"fixed": "#9e9e9e", "compute": "#4c72b0", "kv_load": "#dd8452", "rest": "#c44e52"}
LABELS = {"fixed": "fixed cost (suffix-only)", "compute": "question over cached context",
          "kv_load": "KV load (LMCache retrieve)", "rest": "rest (unexplained)"}  # fmt: skip


def draw_accounting(figures: dict, out: Path) -> str | None:
    """Write ``hit_accounting.png``; None when nothing was accounted for."""
    bars = [(size, s, split) for size, per in sorted(figures.get("sizes", {}).items(), key=lambda kv: int(kv[0]))
            for s, split in sorted(per["stacks"].items())]  # fmt: skip
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(bars) + 2.5), 4.6))
    seen = set()
    for x, (size, s, split) in enumerate(bars):
        bottom = 0.0
        for part in ("fixed", "compute", "kv_load", "rest"):
            height = split[part]
            if part == "rest" and height < 0:
                # The parts overshoot the hit: show the overshoot hatched, below the top of the stack.
                ax.bar(x, -height, bottom=bottom + height, color="none", edgecolor=COLORS["rest"], hatch="//", width=0.6,
                       label=None if "rest" in seen else LABELS["rest"] + " (negative: parts exceed the hit)")  # fmt: skip
                seen.add("rest")
                continue
            ax.bar(
                x, height, bottom=bottom, color=COLORS[part], width=0.6, label=None if part in seen else LABELS[part]
            )
            seen.add(part)
            bottom += height
        ax.plot([x - 0.35, x + 0.35], [split["hit_ms"]] * 2, color="black", lw=1.5)
        ax.annotate(f"{split['hit_ms']:.0f} ms", (x, max(bottom, split["hit_ms"])), ha="center", va="bottom",
                    xytext=(0, 3), textcoords="offset points", fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(bars)), [f"{int(size) // 1000}k\nstack {s}" for size, s, _ in bars], fontsize=8)
    ax.set_ylabel("hit TTFT, ms (medians; black line: measured hit)")
    ax.set_title("Where an LMCache hit's TTFT goes (per size, fresh stack)", fontsize=10)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(out) / "hit_accounting.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def keep_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if any(word in line for word in KEPT_LINES)]


def calls_table(rows: pd.DataFrame) -> pd.DataFrame:
    """results.csv rows of a hit_accounting run as the table ``account`` reads: stack, size and
    repeat from the session name (``hit_accounting-s<stack>-<size>-r<repeat>[-lmcache|-suffix]``),
    the call's wall-clock window from its start and total time."""
    parts = rows["session"].str.extract(r"-s(?P<stack>\d+)-(?P<size>\d+)-r(?P<repeat>\d+)")
    started = pd.to_numeric(rows["started_at"])
    return pd.DataFrame({
        "stack": parts["stack"].astype(int), "size": parts["size"].astype(int), "repeat": parts["repeat"].astype(int),
        "variant": rows["variant"], "response_id": rows["response_id"].fillna("").astype(str), "ttft_ms": rows["ttft_ms"],
        "prompt_tokens": rows["prompt_tokens"], "cached_tokens": rows["cached_tokens"],
        "device_hit_tokens": rows["device_hit_tokens"], "lmcache_hit_tokens": rows["lmcache_hit_tokens"],
        "started": [datetime.fromtimestamp(t).isoformat() for t in started],
        "ended": [datetime.fromtimestamp(t + ms / 1000).isoformat() for t, ms in zip(started, rows["total_ms"], strict=True)],
    })  # fmt: skip


def analyse(out: Path, calls: pd.DataFrame, log_lines: list[str], startups: dict | None = None) -> dict:
    """Write accounting.json and the chart into ``out``; returns the figures."""
    figures = account(calls, parse_log(log_lines), startups)
    (Path(out) / "accounting.json").write_text(json.dumps(figures, indent=2) + "\n")
    draw_accounting(figures, out)
    return figures
