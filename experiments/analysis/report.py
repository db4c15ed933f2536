"""A run folder's ``report.md`` and charts, (re)built from its ``results.csv`` and ``summary.json``.

Everything comes from the folder's ``results.csv`` and ``summary.json``, so a past run can be
redrawn without running it again. ``run_graph`` calls ``write_report`` at the end of every run.
"""

import json
from pathlib import Path

import pandas as pd
from rich.text import Text

from experiments.analysis.charts import draw_charts, one_call_per_question
from experiments.analysis.correctness import correctness, correctness_lines
from experiments.run.results import SUMMARY_JSON, load_results
from experiments.analysis.summary import variant_table
from experiments.scenarios import SCENARIOS

REPORT_MD = "report.md"
HEADERS = {
    "ttft_median_ms": "TTFT median, ms", "ttft_p90_ms": "TTFT p90, ms", "prompt_tokens": "prompt tokens",
    "cached_tokens": "cached tokens", "hit_rate_mean": "hit rate", "hit_rate": "hit rate",
    "hit_rate_min": "hit rate min", "device_hit_rate": "from vLLM cache", "lmcache_hit_rate": "from LMCache",
    "correct": "correct answers",
}  # fmt: skip


def markdown_table(df: pd.DataFrame) -> str:
    """A pipe table; numbers right-aligned, floats with at most 4 significant decimals."""

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "-"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = [
        "| " + " | ".join(map(str, df.columns)) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def pct(v) -> str:
    return "-" if v is None or pd.isna(v) else f"{v:.1%}"


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """Rates as percentages, plain-words headers."""
    table = table.copy()
    for col in table.columns:
        if "rate" in col or col == "correct":
            table[col] = table[col].map(pct)
    return table.rename(columns=HEADERS)


def layout_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per layout, over questions 2..N of each session (the first is cold by design); one-call-per-question paths only."""
    rows = one_call_per_question(df)
    rows = rows[rows["question_id"] > 0]
    table = rows.groupby("layout", sort=False).agg(
        calls=("ttft_ms", "size"),
        ttft_median_ms=("ttft_ms", "median"),
        hit_rate=("hit_rate", "mean"),
        device_hit_rate=("device_hit_rate", "mean"),
        lmcache_hit_rate=("lmcache_hit_rate", "mean"),
    )
    return table.round(4).reset_index()


def read_summary(out: Path) -> dict:
    path = out / SUMMARY_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def results_section(df: pd.DataFrame, summary: dict) -> list[str]:
    lines = ["## Results", ""]
    for name, figures in (summary.get("scenarios") or {}).items():
        comparison = figures.get("comparison") or {}
        if comparison.get("ttft_reduction") is not None:
            expect = figures.get("expect_reduction")
            verdict = (
                ""
                if expect is None
                else f" (expected at least {expect:.0%}: {'PASS' if figures.get('passed') else 'FAIL'})"
            )
            lines += [f"- **{name}**: median TTFT {comparison.get('cold_ttft_median_ms', float('nan')):,.0f} ms cold, "
                      f"{comparison.get('hit_ttft_median_ms', float('nan')):,.0f} ms on hits: "
                      f"**{pct(comparison['ttft_reduction'])} lower**{verdict}."]  # fmt: skip
        # The scenario's own headline figures, as run_graph printed them.
        lines += [f"- {Text.from_markup(line).plain}" for line in figures.get("headline") or []]
        # And its own table, as run_graph printed it ("<name>: details").
        if name in SCENARIOS and (rows := SCENARIOS[name]().report_rows(comparison)):
            lines += ["", f"{name}: details", "", markdown_table(pd.DataFrame(rows)), ""]
    table = variant_table(df)
    lines += [
        "",
        "Per scenario and variant (TTFT in ms; token counts are medians, rates means):",
        "",
        markdown_table(readable(table)),
        "",
    ]
    if "layout" in df.columns and (one_call_per_question(df)["question_id"] > 0).any():
        lines += ["Per layout, questions 2..N of each session:", "", markdown_table(readable(layout_table(df))), ""]
    if scored := correctness_lines(correctness(df)):
        lines += ["### Correctness", "", *(f"- {line[0].upper()}{line[1:]}" for line in scored), ""]
    return lines


def tracing_section(summary: dict) -> list[str]:
    lines = ["## Traces in LangFuse", ""]
    tracing = summary.get("tracing")
    if not tracing:
        return lines + ["This run's folder does not say whether it was traced.", ""]
    if not tracing.get("enabled"):
        return lines + [f"This run was not traced: {tracing.get('notice', 'tracing was off')}.",
                        "Set the keys (see the README, *Traces and charts*) to trace the next run.", ""]  # fmt: skip
    run_id = tracing.get("session_id")
    tags = tracing.get("tags") or list(summary.get("scenarios") or {})
    return lines + [
        f"Every graph run of this experiment is one trace in LangFuse at {tracing.get('base_url')}, all in session "
        f"**`{run_id}`**: open *Sessions* and pick `{run_id}`, or filter *Traces* by that session id.",
        f"Traces are tagged with the scenario and the variants they ran ({', '.join(f'`{t}`' for t in tags)}).",
        "",
        "In a trace, each question is a `generate` node with its `ChatOpenAI` generation (model, usage with the "
        "cached prompt tokens as `input_cache_read`, and the completion start time, from which LangFuse shows TTFT), "
        "then a `collect_cache_stats` node whose metadata holds `ttft_ms`, `prompt_tokens`, `cached_tokens`, "
        "`device_hit_tokens`, `lmcache_hit_tokens`, `hit_rate`, `layout`, `scenario` and `variant`, and which carries "
        "the scores `ttft_ms` and `hit_rate` (also on the trace).",
        "",
    ] + experiments_lines(tracing.get("experiments"))


def experiments_lines(experiments: dict | None) -> list[str]:
    """Where the run sits among LangFuse's datasets and experiment runs."""
    if not experiments or not experiments.get("runs"):
        return []
    runs = ", ".join(f"`{r}`" for r in experiments["runs"])
    baseline = f" (baseline `{experiments['baseline_run']}`)" if experiments.get("baseline_run") else ""
    return [
        f"The run is also recorded as experiment runs of the LangFuse dataset **`{experiments['dataset']}`**: "
        f"{runs}{baseline}. Each call is linked to its question (a dataset item) with the item scores `ttft_ms`, "
        "`hit_rate`, `cached_tokens`, `lmcache_hit_tokens` and `cache_source`; each run carries `ttft_median_ms`, "
        "`ttft_p90_ms`, `hit_rate` and `ttft_reduction` against the baseline. Open *Datasets*, pick the dataset, "
        "tick the runs and press *Compare* to see them side by side (docs/observability-compare.md).",
        "",
    ]


def config_section(summary: dict) -> list[str]:
    config = summary.get("config") or {}
    lines = ["## Configuration", ""]
    for part in ("args", "context", "stack"):
        values = config.get(part)
        if values:
            rows = pd.DataFrame({"setting": list(values), "value": [str(v) for v in values.values()]})
            lines += [f"`{part}`:", "", markdown_table(rows), ""]
    versions = summary.get("versions")
    if versions:
        lines += [
            "## Versions",
            "",
            markdown_table(pd.DataFrame({"package": list(versions), "version": list(versions.values())})),
            "",
        ]
    return lines


def write_report(out: Path) -> Path:
    """Draw the charts and write ``report.md`` into a run folder; returns the report's path."""
    out = Path(out)
    df = load_results(out)
    summary = read_summary(out)
    charts = draw_charts(df, out) if not df.empty else []
    run_id = summary.get("run_id") or (str(df["run_id"].iloc[0]) if "run_id" in df and not df.empty else out.name)
    scenarios = ", ".join(df["scenario"].unique()) if not df.empty else "-"
    elapsed = f", {summary['elapsed_s']:.0f} s of calls" if summary.get("elapsed_s") is not None else ""
    lines = [f"# Run {run_id}", "", f"Scenario {scenarios}: {len(df)} calls{elapsed}. Rebuild this page with "
             f"`python -m experiments.report {out}`.", ""]  # fmt: skip
    if df.empty:
        lines += ["No call finished in this run.", ""]
    else:
        lines += results_section(df, summary)
    if charts:
        lines += ["## Charts", ""] + [line for name, title in charts for line in (f"![{title}]({name})", "")]
    lines += tracing_section(summary) + config_section(summary)
    path = out / REPORT_MD
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path
