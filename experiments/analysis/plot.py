"""What every chart shares: the file it goes to, the colours, a log axis when cold and hit differ by far.

Scenario packages draw their own charts with these; ``experiments.analysis.charts`` collects them.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in tests
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110
COLD, HIT = "#c44e52", "#4c72b0"
DEVICE, LMCACHE = "#8172b2", "#55a868"


def log_if_wide(ax, values) -> None:
    """Cold and hit TTFT differ by 10-30x: a log axis keeps both readable."""
    values = [v for v in values if v and v > 0]
    if values and max(values) / min(values) > 20:
        ax.set_yscale("log")


def save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return name
