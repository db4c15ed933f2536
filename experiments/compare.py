"""``python -m experiments.compare RUN_A RUN_B [RUN_C ...]``: put run folders side by side.

Any two runs of any scenario, from any machine (a CPU run against a GPU run, last week's against
today's): per scenario and variant present in both, the TTFT median and p90, hit rate and cached
tokens of each, the ratio of median TTFTs B/A with a bootstrap confidence interval, and a verdict:
``faster`` or ``slower`` when the whole interval lies below or above 1, else ``within noise``
(``too few calls`` under three calls a side).
Differences in manual, model, settings and versions between the runs are listed first: runs that
differ are still compared, the reader is told. Writes ``compare.md`` and ``compare.png`` (median
TTFT per variant and run, with intervals) into ``--out``.

The first run is the reference unless ``--baseline`` names another. ``--pair A:B`` compares variant
A of the reference with variant B of the other runs (the same folder may be given twice), e.g.
``manual_first:instructions_first`` within one layouts run. ``--fail-if-slower F`` makes it a
regression gate: exit 1 when a variant's median TTFT got more than F slower (0.1 = 10%) with the
whole interval above 1 + F (variants with too few calls are passed over). Bad input (not a run folder, no rows, no variant in common) is one
``error:`` line and exit 2.

A variant that fills whole sessions (a layout, a tier, a manual size) is compared on questions
2..N only: the first question of each session is a cold start in every variant alike.
"""

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from experiments.run.results import RESULTS_CSV, SUMMARY_JSON, prepare_out_dir
from experiments.analysis.variant_rows import compared_rows, variant_figures
from lab.cli import command
from lab.errors import UserError

COMPARE_MD = "compare.md"
COMPARE_PNG = "compare.png"
RESAMPLES = 2000
LEVEL = 0.95
SEED = 0  # the same rows always give the same interval
# Below this many calls on a side, a bootstrap interval says nothing (one call gives a zero-width
# one): such a variant gets the verdict "too few calls" and the gate passes it over.
MIN_CALLS = 3
NEEDED = ["scenario", "variant", "session", "question_id", "ttft_ms"]
# What a reader must know differs between two runs before reading their figures side by side.
COMPARED_SETTINGS = {
    "manual": [("context", "manual_path"), ("context", "manual_tokens"), ("context", "truncate_manual"),
               ("args", "manual"), ("args", "manual_tokens")],
    "model": [("context", "model"), ("stack", "served_model_name"), ("stack", "model_dir"), ("stack", "dtype"),
              ("stack", "max_model_len")],
    "settings": [("stack", "profile"), ("context", "layout"), ("context", "chunk_size"), ("context", "max_tokens"),
                 ("context", "temperature"), ("stack", "prefix_caching"), ("stack", "lmcache"),
                 ("stack", "chunk_size"), ("stack", "kv_cache_gib"), ("stack", "lmcache_l1_gib"),
                 ("stack", "enforce_eager"), ("stack", "tiers"), ("args", "questions"), ("args", "repeats")],
}  # fmt: skip


@dataclass
class RunFolder:
    path: Path
    rows: pd.DataFrame
    summary: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        if self.summary.get("run_id"):
            return str(self.summary["run_id"])
        if "run_id" in self.rows and len(self.rows):
            return str(self.rows["run_id"].iloc[0])
        return self.path.name

    @property
    def label(self) -> str:
        return self.path.name or str(self.path)


def load_run(path: Path) -> RunFolder:
    """A run folder's rows (results.csv) and summary (summary.json, optional)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a run folder (no such folder)")
    csv = path / RESULTS_CSV
    if not csv.is_file():
        raise UserError(f"{path} is not a run folder: it has no {RESULTS_CSV}")
    try:
        rows = pd.read_csv(csv)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} has no rows in {RESULTS_CSV}: no call finished in that run") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"{csv} is not a results table ({str(err).splitlines()[0]})") from None
    missing = [c for c in NEEDED if c not in rows.columns]
    if missing:
        raise UserError(f"{csv} lacks the columns {', '.join(missing)}; is it from python -m experiments.run_graph?")
    rows = rows[pd.to_numeric(rows["ttft_ms"], errors="coerce").notna()]
    if rows.empty:
        raise UserError(f"{path} has no rows in {RESULTS_CSV}: no call finished in that run")
    summary = {}
    if (path / SUMMARY_JSON).is_file():
        try:
            summary = json.loads((path / SUMMARY_JSON).read_text())
        except ValueError:
            summary = {}
    return RunFolder(path, rows, summary)


def bootstrap_ratio(a, b, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED) -> dict:
    """Median of ``b`` / median of ``a`` and its percentile bootstrap interval: both samples are
    resampled with replacement, independently, ``resamples`` times."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both samples need at least one value")
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, (resamples, len(a))), axis=1)
    mb = np.median(rng.choice(b, (resamples, len(b))), axis=1)
    ratios = mb / np.where(ma == 0, np.nan, ma)
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(ratios, [tail, 100 - tail])
    return {"ratio": float(np.median(b) / np.median(a)) if np.median(a) else float("nan"),
            "low": float(low), "high": float(high)}  # fmt: skip


def median_interval(values, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of one sample's median (the chart's error bars)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, (resamples, len(values))), axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def verdict(low: float, high: float, calls: int = MIN_CALLS) -> str:
    if calls < MIN_CALLS:
        return "too few calls"
    if high < 1:
        return "faster"
    if low > 1:
        return "slower"
    return "within noise"


def compare_pair(base: RunFolder, other: RunFolder, pairs: list[tuple[str, str]] | None = None) -> list[dict]:
    """One row per scenario and variant present in both runs (or per ``pairs`` of variants)."""
    a_rows, b_rows = compared_rows(base.rows), compared_rows(other.rows)
    out = []
    for scenario in dict.fromkeys(a_rows["scenario"]):
        if scenario not in set(b_rows["scenario"]):
            continue
        a_sc, b_sc = a_rows[a_rows["scenario"] == scenario], b_rows[b_rows["scenario"] == scenario]
        wanted = pairs or [(v, v) for v in dict.fromkeys(a_sc["variant"]) if v in set(b_sc["variant"])]
        for va, vb in wanted:
            a, b = a_sc[a_sc["variant"] == va], b_sc[b_sc["variant"] == vb]
            if a.empty or b.empty:
                continue
            stats = bootstrap_ratio(a["ttft_ms"], b["ttft_ms"])
            out.append({
                "scenario": scenario, "variant": va if va == vb else f"{va} → {vb}",
                "a": variant_figures(a), "b": variant_figures(b), **stats,
                "verdict": verdict(stats["low"], stats["high"], min(len(a), len(b))),
                "a_interval": median_interval(a["ttft_ms"]), "b_interval": median_interval(b["ttft_ms"]),
            })  # fmt: skip
    return out


def setting(summary: dict, part: str, key: str):
    config = summary.get("config") or {}
    return (config.get(part) or {}).get(key)


def differences(base: RunFolder, other: RunFolder) -> list[str]:
    """One line per manual, model, setting or package version that differs between the two runs."""
    lines = []
    if not base.summary or not other.summary:
        missing = base if not base.summary else other
        return [f"{missing.label} has no {SUMMARY_JSON}: its manual, model and settings are unknown"]
    for group, keys in COMPARED_SETTINGS.items():
        for part, key in keys:
            va, vb = setting(base.summary, part, key), setting(other.summary, part, key)
            if va != vb and (va is not None or vb is not None):
                lines.append(f"{group}: {part}.{key} {fmt_setting(va)} vs {fmt_setting(vb)}")
    va, vb = base.summary.get("versions") or {}, other.summary.get("versions") or {}
    for name in dict.fromkeys([*va, *vb]):
        if va.get(name) != vb.get(name):
            lines.append(f"versions: {name} {fmt_setting(va.get(name))} vs {fmt_setting(vb.get(name))}")
    return lines


def fmt_setting(value) -> str:
    return "(unset)" if value is None else f"`{value}`"


def gate_failures(rows: list[dict], fail_if_slower: float | None) -> list[dict]:
    """Rows whose median TTFT got more than ``fail_if_slower`` slower, the whole interval above it."""
    if fail_if_slower is None:
        return []
    return [r for r in rows if r["verdict"] != "too few calls" and r["low"] > 1 + fail_if_slower]


def ms(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def pct(v) -> str:
    return "-" if v is None else f"{v:.1%}"


def tokens(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def ratio_text(r: dict) -> str:
    return f"{r['ratio']:.2f}x [{r['low']:.2f}, {r['high']:.2f}]"


TABLE_HEADERS = ["scenario", "variant", "calls A/B", "TTFT median A", "TTFT median B", "TTFT p90 A", "TTFT p90 B",
                 "hit rate A", "hit rate B", "cached A", "cached B", "B/A [95% CI]", "verdict"]  # fmt: skip


def table_cells(r: dict) -> list[str]:
    a, b = r["a"], r["b"]
    return [r["scenario"], r["variant"], f"{a['calls']}/{b['calls']}", ms(a["ttft_median_ms"]), ms(b["ttft_median_ms"]),
            ms(a["ttft_p90_ms"]), ms(b["ttft_p90_ms"]), pct(a["hit_rate"]), pct(b["hit_rate"]),
            tokens(a["cached_tokens"]), tokens(b["cached_tokens"]), ratio_text(r), r["verdict"]]  # fmt: skip


@dataclass
class Comparison:
    base: RunFolder
    other: RunFolder
    rows: list[dict]
    differences: list[str]


def compare_runs(runs: list[RunFolder], base: RunFolder, pairs=None) -> list[Comparison]:
    comparisons = []
    others = [r for r in runs if r is not base] or ([base] if pairs else [])
    for other in others:
        rows = compare_pair(base, other, pairs)
        if not rows:
            what = "variant pair " + ", ".join(f"{a}:{b}" for a, b in pairs) if pairs else "scenario and variant"
            raise UserError(f"{base.path} and {other.path} have no {what} in common; nothing to compare")
        comparisons.append(Comparison(base, other, rows, differences(base, other) if other is not base else []))
    return comparisons


def markdown(comparisons: list[Comparison], fail_if_slower: float | None, chart: str | None) -> str:
    lines = ["# Comparison", "", f"Written by `python -m experiments.compare` on {dt.date.today().isoformat()}. "
             f"TTFT in ms. B/A is the ratio of median TTFTs with a {LEVEL:.0%} percentile bootstrap interval "
             f"({RESAMPLES} resamples); the verdict is `faster` or `slower` when the whole interval lies below or "
             f"above 1, else `within noise` (`too few calls` under {MIN_CALLS} calls a side).", ""]  # fmt: skip
    for c in comparisons:
        lines += [f"## A: `{c.base.run_id}` ({c.base.path}) vs B: `{c.other.run_id}` ({c.other.path})", ""]
        if c.differences:
            lines += ["The runs differ in:", ""] + [f"- {d}" for d in c.differences] + [""]
        elif c.other is not c.base:
            lines += ["Same manual, model, settings and versions.", ""]
        lines += ["| " + " | ".join(TABLE_HEADERS) + " |", "|" + "---|" * len(TABLE_HEADERS)]
        lines += ["| " + " | ".join(table_cells(r)) + " |" for r in c.rows]
        lines.append("")
        failed = gate_failures(c.rows, fail_if_slower)
        if fail_if_slower is not None:
            lines += [f"Gate `--fail-if-slower {fail_if_slower:g}`: " + (
                "FAIL: " + ", ".join(f"{r['scenario']}/{r['variant']} {ratio_text(r)}" for r in failed)
                if failed else "PASS"), ""]  # fmt: skip
    if chart:
        lines += [f"![median TTFT per variant and run]({chart})", ""]
    return "\n".join(lines).rstrip() + "\n"


def draw_chart(comparisons: list[Comparison], out: Path) -> str:
    """Bars of median TTFT per scenario/variant, A beside each B, with the medians' intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(c, r) for c in comparisons for r in c.rows]
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 * len(groups) + 2), 4.6))
    width = 0.38
    colours = ("#8c8c8c", "#4c72b0")
    for i, (c, r) in enumerate(groups):
        for j, (side, run) in enumerate((("a", c.base), ("b", c.other))):
            median = r[side]["ttft_median_ms"]
            low, high = r[f"{side}_interval"]
            ax.bar(i + (j - 0.5) * width, median, width, color=colours[j],
                   yerr=[[median - low], [high - median]], capsize=4,
                   label=("A (reference)" if j == 0 else "B") if i == 0 else None)  # fmt: skip
        top = max(r["a_interval"][1], r["b_interval"][1])
        ax.annotate(f"{r['ratio']:.2f}x\n{r['verdict']}", (i, top), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 3), textcoords="offset points")  # fmt: skip
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{r['scenario']}\n{r['variant']}" + (f"\nB={c.other.label[:18]}" if len(comparisons) > 1 else "")
                        for c, r in groups], fontsize=8)  # fmt: skip
    values = [v for _, r in groups for v in (*r["a_interval"], *r["b_interval"]) if v > 0]
    if values and max(values) / min(values) > 20:
        ax.set_yscale("log")
        ax.set_ylim(top=max(values) * 3)  # room for the labels
    elif values:
        ax.set_ylim(0, max(values) * 1.25)
    ax.set_ylabel("TTFT median, ms")
    ax.set_title("Median TTFT, A (reference) vs B, with 95% bootstrap intervals", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / COMPARE_PNG, dpi=110)
    plt.close(fig)
    return COMPARE_PNG


def parse_pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise UserError(f"--pair {text!r} is not VARIANT_A:VARIANT_B, e.g. manual_first:instructions_first")
    return a, b


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other bad input
        raise UserError(f"{message} (see python -m experiments.compare --help)")


def parse_args(argv):
    p = Parser(prog="python -m experiments.compare", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("runs", nargs="+", type=Path, help="run folders (results.csv, summary.json)")
    p.add_argument("--baseline", type=Path, help="the reference run (default: the first)")
    p.add_argument("--pair", action="append", default=[], metavar="A:B",
                   help="compare variant A of the reference with variant B of the others (repeatable)")
    p.add_argument("--fail-if-slower", type=float, metavar="F",
                   help="exit 1 when a variant's median TTFT got more than F slower (0.1 = 10%%), interval above too")
    p.add_argument("--out", type=Path, help="where compare.md and compare.png go (default runs/<time>-compare)")
    args = p.parse_intermixed_args(argv)
    if args.fail_if_slower is not None and args.fail_if_slower < 0:
        raise UserError("--fail-if-slower must be 0 or more (0.1 means 10% slower)")
    if len(args.runs) + (args.baseline is not None) < 2 and not args.pair:
        raise UserError("give two run folders or more (or one with --pair A:B)")
    return args


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pairs = [parse_pair(p) for p in args.pair]
    runs = [load_run(p) for p in args.runs]
    if args.baseline is not None:
        resolved = {r.path.resolve(): r for r in runs}
        base = resolved.get(args.baseline.resolve()) or load_run(args.baseline)
        if base not in runs:
            runs.insert(0, base)
    else:
        base = runs[0]
    comparisons = compare_runs(runs, base, pairs)
    out = prepare_out_dir(args.out or Path("runs") / f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-compare")
    chart = draw_chart(comparisons, out)
    (out / COMPARE_MD).write_text(markdown(comparisons, args.fail_if_slower, chart))

    console = Console(width=200)
    failed = []
    for c in comparisons:
        console.print(f"[bold]A[/] {c.base.run_id} ({c.base.path})  vs  [bold]B[/] {c.other.run_id} ({c.other.path})")
        for line in c.differences:
            console.print(f"  [yellow]differs[/] {line}")
        table = Table(*TABLE_HEADERS)
        for r in c.rows:
            table.add_row(*table_cells(r))
        console.print(table)
        failed += [(c, r) for r in gate_failures(c.rows, args.fail_if_slower)]
    console.print(f"wrote {out / COMPARE_MD} and {out / chart}")
    if failed:
        worst = ", ".join(f"{r['scenario']}/{r['variant']} {ratio_text(r)} ({c.other.label})" for c, r in failed)
        print(f"error: median TTFT more than {args.fail_if_slower:.0%} slower than the reference: {worst}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
