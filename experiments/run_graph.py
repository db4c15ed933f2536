"""``python -m experiments.run_graph``: the main job.

With no arguments it starts (or reuses) the local vLLM + LMCache stack and runs the cold-start vs
cache-hit scenario, writing ``results.csv`` and ``summary.json`` into a new folder under ``runs/``.
Exit codes: 0 ok, 1 the measured reduction is below ``--expect-reduction``, 2 bad input or a server
problem (one line on stderr), 130 interrupted (results so far are kept).
"""

import argparse
import signal
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from clients.vllm import check_endpoint
from experiments.results import ResultsWriter, load_results, prepare_out_dir, versions, write_summary
from experiments.runner import Run
from experiments.scenarios import SCENARIOS, ScenarioOptions, get_scenario
from experiments.summary import variant_table, variants_as_dict
from graphs.context import Context
from lab.errors import UserError
from serving.launcher import Stack
from serving.settings import StackSettings

console = Console(width=None if sys.stdout.isatty() else 120)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.run_graph", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--scenario", default="cold_hit", help=f"one of: {', '.join(SCENARIOS)} (default cold_hit)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<time>-<scenario>)")
    p.add_argument("--manual", help="your own .txt/.md manual (default: Python's documentation topics)")
    p.add_argument("--manual-tokens", type=int, help="manual token budget (default 4000; sweep: the largest size); cuts your own manual to it")
    p.add_argument("--questions", type=int, default=5, help="questions per session (default 5: 1 cold + 4 hits)")
    p.add_argument("--repeats", type=int, default=3, help="sessions, each on a fresh manual edition (default 3)")
    p.add_argument("--max-tokens", type=int, help="answer length limit (default 32)")
    p.add_argument("--endpoint", help="use this OpenAI-compatible server instead of starting the local stack")
    p.add_argument("--model", help="model name at the endpoint (default smollm2-135m-instruct)")
    p.add_argument("--expect-reduction", type=float,
                   help="exit 1 when the median TTFT reduction is below this fraction (cold_hit default 0.70; sweep: "
                        "of the TTFT slope, default 0.90; overhead: the harness/bare excess allowed, default off)")  # fmt: skip
    p.add_argument("--keep-stack", action="store_true", help="leave a stack this run started running afterwards")
    return p.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    for flag in ("questions", "repeats", "manual_tokens", "max_tokens"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    least = get_scenario(args.scenario).min_questions
    if args.questions < least:
        raise UserError(f"--questions must be at least {least} for {args.scenario}: one cold call and at least one hit")
    if args.expect_reduction is not None and not 0 <= args.expect_reduction < 1:
        raise UserError(f"--expect-reduction is a fraction between 0 and 1, got {args.expect_reduction}")


def build_context(args: argparse.Namespace, endpoint: str) -> Context:
    ctx = Context()
    overrides = {"endpoint": endpoint}
    if args.model:
        overrides["model"] = args.model
    if args.manual:
        overrides["manual_path"] = args.manual
    if args.manual_tokens:
        overrides["manual_tokens"] = args.manual_tokens
        overrides["truncate_manual"] = True  # asking for a budget on your own manual means: cut it
    if args.max_tokens:
        overrides["max_tokens"] = args.max_tokens
    return replace(ctx, **overrides)


def print_summary(table, comparison: dict, scenario, expect, failure) -> None:
    t = Table(title=f"{scenario.name}: {scenario.description}")
    for col in ("variant", "calls", "TTFT median", "TTFT p90", "prompt tok", "cached tok", "hit rate", "vLLM cache", "LMCache"):
        t.add_column(col, justify="right")
    pct = lambda v: "-" if v != v or v is None else f"{v:.1%}"  # noqa: E731  (NaN-safe)
    for r in table.to_dict("records"):
        t.add_row(r["variant"], str(r["calls"]), f"{r['ttft_median_ms']:.0f} ms", f"{r['ttft_p90_ms']:.0f} ms",
                  f"{r['prompt_tokens']:.0f}", f"{r['cached_tokens']:.0f}", pct(r["hit_rate_mean"]),
                  pct(r["device_hit_rate"]), pct(r["lmcache_hit_rate"]))  # fmt: skip
    console.print(t)
    for line in scenario.summary_lines(comparison):
        console.print(line)
    if comparison.get("ttft_reduction") is not None:
        verdict = "[red]FAIL[/]" if failure else "[green]PASS[/]"
        goal = f" (expected at least {expect:.0%}: {verdict})" if expect is not None else ""
        console.print(f"TTFT reduction, hit vs cold (medians): [bold]{comparison['ttft_reduction']:.1%}[/]{goal}")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM is handled like Ctrl-C, so servers this run started are stopped and results kept.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    stack, started, out, writer = None, False, None, None
    try:
        args = parse_args(argv)
        validate(args)
        scenario = get_scenario(args.scenario)
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        out = prepare_out_dir(args.out or Path("runs") / f"{run_id}-{scenario.name}")
        ctx = Context()  # reads LMLAB_* now, so a bad value fails before any server starts
        if args.endpoint:
            endpoint = args.endpoint
        else:
            stack = Stack(StackSettings())
            started = stack.up()
            endpoint = stack.settings.endpoint
        ctx = build_context(args, endpoint)
        check_endpoint(ctx.endpoint, ctx.model, ctx.api_key)
        opts = ScenarioOptions(run_id=run_id, questions=args.questions, repeats=args.repeats, context=ctx,
                               manual_tokens=args.manual_tokens)  # fmt: skip
        sessions = scenario.sessions(opts)
        total = sum(len(s.questions) for s in sessions)
        console.print(f"[bold]{scenario.name}[/]: {len(sessions)} sessions, {total} calls against {ctx.endpoint}; results in {out}")
        writer = ResultsWriter(out)
        started_at = time.monotonic()

        def on_call(row: dict) -> None:
            console.print(
                f"  [{writer.rows_written}/{total}] {row['session']} q{row['question_id']} {row['variant']:<5} "
                f"TTFT {row['ttft_ms']:>8.0f} ms  cached {row['cached_tokens']}/{row['prompt_tokens']}"
            )

        scenario.run(sessions, Run(run_id, scenario, writer, on_call))
        writer.close()
        elapsed = time.monotonic() - started_at

        df = load_results(out)
        table = variant_table(df)
        comparison = scenario.comparison(df)
        expect = args.expect_reduction if args.expect_reduction is not None else scenario.default_expect
        failure = scenario.check(comparison, expect)
        write_summary(out, {
            "run_id": run_id,
            "scenarios": {scenario.name: {"variants": variants_as_dict(table, scenario.name), "comparison": comparison,
                                          "expect_reduction": expect, "passed": failure is None}},
            "config": {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                       "context": {k: v for k, v in vars(ctx).items() if k != "api_key"},
                       "stack": stack.settings.as_dict() if stack else {"endpoint": endpoint}},
            "versions": versions(),
            "elapsed_s": round(elapsed, 1),
        })  # fmt: skip
        print_summary(table, comparison, scenario, expect, failure)
        console.print(f"wrote {out / 'results.csv'} and {out / 'summary.json'} ({elapsed:.0f} s of calls)")
        if failure:
            print(f"error: {failure}", file=sys.stderr)
            return 1
        return 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        kept = f"; {writer.rows_written} finished calls are kept in {out / 'results.csv'}" if writer else ""
        print(f"interrupted{kept}", file=sys.stderr)
        return 130
    finally:
        if writer:
            writer.close()
        if started and stack and not (args.keep_stack if "args" in locals() else False):
            stack.down()


if __name__ == "__main__":
    sys.exit(main())
