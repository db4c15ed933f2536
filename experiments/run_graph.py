"""``python -m experiments.run_graph``: the main job.

With no arguments it starts (or reuses) the local vLLM + LMCache stack and runs the cold-start vs
cache-hit scenario, writing ``results.csv`` and ``summary.json`` into a new folder under ``runs/``.
Exit codes: 0 ok, 1 the measured reduction is below ``--expect-reduction``, 2 bad input or a server
problem (one line on stderr), 130 interrupted (results so far are kept).
"""

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from experiments.analysis.comparison_view import comparison_view
from experiments.analysis.correctness import correctness_lines
from experiments.run.experiment import RunResult, run_experiment
from experiments.run.spec import RunArgs, RunSpec
from experiments.scenarios import SCENARIOS
from lab.cli import ArgumentParser, command

console = Console(width=None if sys.stdout.isatty() else 120)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m experiments.run_graph", description=__doc__.split("\n\n")[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--scenario", default="cold_hit", help=f"one of: {', '.join(SCENARIOS)} (default cold_hit)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<time>-<scenario>)")
    p.add_argument("--manual", help="your own .txt/.md manual (default: Python's documentation topics)")
    p.add_argument("--manual-tokens", type=int, help="manual token budget (default 4000; sweep: the largest size); cuts your own manual to it")
    p.add_argument("--questions", type=int, default=5, help="questions per session (default 5: 1 cold + 4 hits)")
    p.add_argument("--questions-file", metavar="FILE",
                   help="your own questions: one a line, or .csv/.jsonl with question and optional expected (docs/questions.md)")
    p.add_argument("--dataset", metavar="NAME", help="your own questions from this LangFuse dataset: item inputs, expected outputs")
    p.add_argument("--repeats", type=int, default=3, help="sessions, each on a fresh manual edition (default 3)")
    p.add_argument("--max-tokens", type=int, help="answer length limit (default 32)")
    p.add_argument("--endpoint", help="use this OpenAI-compatible server instead of starting the local stack")
    p.add_argument("--model", help="model name at the endpoint (default smollm2-135m-instruct)")
    p.add_argument("--expect-reduction", type=float,
                   help="the scenario's pass mark, a fraction: exit 1 below it (cold_hit: TTFT reduction, default 0.70; "
                        "sweep: of the TTFT slope, default 0.90; overhead: the harness/bare excess allowed, default off)")  # fmt: skip
    p.add_argument("--concurrency", type=int, help="sessions at once, load (default 8) and soak (default 4) only")
    p.add_argument("--duration", type=int, metavar="SECONDS", help="how long the soak scenario runs (default 60; make soak: 3600)")
    p.add_argument("--keep-stack", action="store_true", help="leave a stack this run started running afterwards")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="finish an interrupted run: same settings, only the calls missing from DIR/results.csv")  # fmt: skip
    return p.parse_args(argv)


def spec_from(ns: argparse.Namespace) -> RunSpec:
    if ns.resume:
        return RunSpec.resume(ns.resume, keep_stack=ns.keep_stack)
    return RunSpec.build(RunArgs(**vars(ns)))


def print_summary(result: RunResult) -> None:
    scenario, comparison, failure = result.scenario, result.comparison, result.failure
    t = Table(title=f"{scenario.name}: {scenario.description}")
    for col in ("variant", "calls", "TTFT median", "TTFT p90", "prompt tok", "cached tok", "hit rate", "vLLM cache", "LMCache"):
        t.add_column(col, justify="right")
    pct = lambda v: "-" if v != v or v is None else f"{v:.1%}"  # noqa: E731  (NaN-safe)
    for r in result.table.to_dict("records"):
        t.add_row(r["variant"], str(r["calls"]), f"{r['ttft_median_ms']:.0f} ms", f"{r['ttft_p90_ms']:.0f} ms",
                  f"{r['prompt_tokens']:.0f}", f"{r['cached_tokens']:.0f}", pct(r["hit_rate_mean"]),
                  pct(r["device_hit_rate"]), pct(r["lmcache_hit_rate"]))  # fmt: skip
    console.print(t)
    if rows := scenario.report_rows(comparison):
        extra = Table(title=f"{scenario.name}: details")
        for col in rows[0]:
            extra.add_column(col, justify="right")
        for r in rows:
            extra.add_row(*(str(v) for v in r.values()))
        console.print(extra)
    if comparison.get("ttft_reduction") is None:
        console.print(f"check: {'[red]FAIL[/]: ' + failure if failure else '[green]PASS[/]'}")
    for line in scenario.summary_lines(comparison):
        console.print(line)
    if comparison.get("ttft_reduction") is not None:
        goal = f" (expected at least {result.expect:.0%})" if result.expect is not None else ""
        console.print(f"TTFT reduction, hit vs cold (medians): [bold]{comparison['ttft_reduction']:.1%}[/]{goal}")
    else:
        tables, lines = comparison_view(scenario.name, scenario.printed(comparison))
        for renderable in (*tables, *lines):
            console.print(renderable)
    console.print("[red]FAIL[/]: " + failure if failure else "[green]PASS[/]")
    totals = result.summary.get("run_cache_totals")
    if totals and scenario.concurrency > 1:
        console.print(f"  hits by source over the run: vLLM cache {totals['device_hit_rate']:.1%}, LMCache {totals['lmcache_hit_rate']:.1%}")
    for line in correctness_lines(result.summary.get("correctness")):
        console.print(line, markup=False)
    mismatches = result.summary["scenarios"][scenario.name]["prediction_mismatches"]
    if mismatches and not scenario.kv_from_earlier_sessions:
        console.print(f"[yellow]{mismatches} calls were more than one chunk off their prediction (cache_note in results.csv)[/]")
    elapsed = result.summary.get("elapsed_s") or 0
    console.print(f"wrote {result.out / 'results.csv'}, {result.out / 'summary.json'} and {result.report} with its charts ({elapsed:.0f} s of calls)")


@command
def main(argv: list[str] | None = None) -> int:
    result = run_experiment(spec_from(parse_args(argv)), console)
    print_summary(result)
    if result.failure:
        print(f"error: {result.failure}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
