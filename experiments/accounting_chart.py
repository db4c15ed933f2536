"""The hit accounting's chart: one stacked bar per manual size and stack, the measured hit marked on it."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"fixed": "#9e9e9e", "compute": "#4c72b0", "kv_load": "#dd8452", "rest": "#c44e52"}
LABELS = {"fixed": "fixed cost (suffix-only)", "compute": "question over cached context",
          "kv_load": "KV load (LMCache retrieve)", "rest": "rest (unexplained)"}  # fmt: skip


def draw_accounting(figures: dict, out: Path) -> str | None:
    """Write ``hit_accounting.png``; None when nothing was accounted for."""
    bars = [(size, s, split) for size, per in sorted(figures.get("sizes", {}).items(), key=lambda kv: int(kv[0]))
            for s, split in sorted(per["stacks"].items())]  # fmt: skip
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(bars) + 2.5), 4.6))
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
            ax.bar(x, height, bottom=bottom, color=COLORS[part], width=0.6, label=None if part in seen else LABELS[part])
            seen.add(part)
            bottom += height
        ax.plot([x - 0.35, x + 0.35], [split["hit_ms"]] * 2, color="black", lw=1.5)
        ax.annotate(f"{split['hit_ms']:.0f} ms", (x, max(bottom, split["hit_ms"])), ha="center", va="bottom",
                    xytext=(0, 3), textcoords="offset points", fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(bars)), [f"{int(size) // 1000}k\nstack {s}" for size, s, _ in bars], fontsize=8)
    ax.set_ylabel("hit TTFT, ms (medians; black line: measured hit)")
    ax.set_title("Where an LMCache hit's TTFT goes, per manual size and fresh stack", fontsize=10)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(out) / "hit_accounting.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
