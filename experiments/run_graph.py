"""``python -m experiments.run_graph``: the main job.

With no arguments it starts (or reuses) the local vLLM + LMCache stack and runs the cold-start vs
cache-hit scenario, writing ``results.csv`` and ``summary.json`` into a new folder under ``runs/``.
Exit codes: 0 ok, 1 the measured reduction is below ``--expect-reduction``, 2 bad input or a server
problem (one line on stderr), 130 interrupted (results so far are kept).
"""

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import openai
from rich.console import Console
from rich.table import Table

from clients.vllm import check_endpoint, scrape_metrics
from experiments.report import write_report
from experiments.results import (RESULTS_CSV, ResultsWriter, count_rows, load_results, prepare_out_dir, versions,
                                 write_summary)  # fmt: skip
from experiments.runner import Run
from experiments.scenarios import SCENARIOS, ScenarioOptions, get_scenario
from experiments.summary import variant_table, variants_as_dict
from graphs.context import Context
from lab.cli import handle_interrupts
from lab.envconfig import env_name
from metrics.prometheus import delta, hit_tokens
from clients.measured import counters_snapshot
from lab.errors import ServerGone, UserError
from observability.settings import from_env as langfuse_settings
from observability.tracing import Tracing
from prompts.layouts import get_layout
from prompts.manual import read_manual
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
                   help="the scenario's pass mark, a fraction: exit 1 below it (cold_hit: TTFT reduction, default 0.70; "
                        "sweep: of the TTFT slope, default 0.90; overhead: the harness/bare excess allowed, default off)")  # fmt: skip
    p.add_argument("--concurrency", type=int, help="sessions at once, load scenario only (default 8)")
    p.add_argument("--keep-stack", action="store_true", help="leave a stack this run started running afterwards")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="finish an interrupted run: same settings, only the calls missing from DIR/results.csv")  # fmt: skip
    return p.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    """Refuse bad arguments before any folder or server exists."""
    if args.concurrency is not None and args.scenario != "load":
        raise UserError("--concurrency applies to the load scenario only")
    for flag in ("questions", "repeats", "manual_tokens", "max_tokens", "concurrency"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    least = get_scenario(args.scenario).min_questions
    if args.questions < least:
        raise UserError(f"--questions must be at least {least} for {args.scenario}: one cold call and at least one hit")
    if args.expect_reduction is not None and not 0 <= args.expect_reduction < 1:
        raise UserError(f"--expect-reduction is a fraction between 0 and 1, got {args.expect_reduction}")
    if args.manual:
        read_manual(args.manual)  # missing, empty, binary or not UTF-8: said now, not after the stack starts


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


RUN_JSON = "run.json"


def save_run(out: Path, run_id: str, args: argparse.Namespace) -> None:
    """What --resume needs to plan the very same run again."""
    saved = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("resume", "out")}
    (out / RUN_JSON).write_text(json.dumps({"run_id": run_id, "args": saved}, indent=2) + "\n")


def load_run(folder: Path) -> tuple[str, argparse.Namespace]:
    path = folder / RUN_JSON
    try:
        data = json.loads(path.read_text())
        return data["run_id"], argparse.Namespace(**{**data["args"], "resume": folder, "out": folder})
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{folder} is not a run folder this tool can resume (no readable {RUN_JSON})") from None


def discard_unused_run(out: Path, created: bool) -> None:
    """A run that failed before its first call finished leaves nothing behind: its run.json goes,
    and so does the folder when this run created it."""
    if (out / RESULTS_CSV).exists():
        return
    (out / RUN_JSON).unlink(missing_ok=True)
    if created:
        try:
            out.rmdir()
        except OSError:
            pass  # something else is in it: not ours to remove


def kept_calls(out: Path | None) -> str:
    """What a stopped run keeps, for its last line."""
    n = count_rows(out) if out is not None else 0
    return f"{n} finished calls are kept in {out / RESULTS_CSV}" if n else "no call had finished"


def done_calls(out: Path) -> set[tuple[str, int]]:
    """(session, question id) of every call already in results.csv."""
    if not (out / RESULTS_CSV).is_file():
        return set()
    df = load_results(out)
    return {(s, int(q)) for s, q in zip(df["session"], df["question_id"], strict=True)}


def run_cache_totals(df, before: dict | None, after: dict | None) -> dict | None:
    """Hits by source over the whole run, from /metrics before and after: right even under concurrency."""
    if before is None or after is None:
        return None
    hits = hit_tokens(delta(before["vllm"], after["vllm"]))
    prompt = int(df["prompt_tokens"].sum())
    return {
        "prompt_tokens": prompt,
        "device_hit_tokens": hits["device_hit_tokens"],
        "lmcache_hit_tokens": hits["lmcache_hit_tokens"],
        "device_hit_rate": round(hits["device_hit_tokens"] / prompt, 4) if prompt else 0.0,
        "lmcache_hit_rate": round(hits["lmcache_hit_tokens"] / prompt, 4) if prompt else 0.0,
    }


def scenario_stack_settings(scenario) -> StackSettings:
    """The scenario's stack: its overrides are defaults, LMLAB_* variables the user set still win."""
    overrides = {k: v for k, v in (scenario.stack_overrides or {}).items() if env_name(k) not in os.environ}
    return StackSettings(**overrides)


def stopped_run_advice(out: Path | None, stack: Stack | None) -> str:
    """After a server stopped mid-run: what is kept and how to go on."""
    restart = "restart the stack (python -m serving down && python -m serving up)" if stack else "restart the server"
    if out is not None and count_rows(out):
        return f"{kept_calls(out)}; {restart}, then finish the run with --resume {out}"
    return f"no call had finished; {restart}, then run again"


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
        goal = f" (expected at least {expect:.0%})" if expect is not None else ""
        console.print(f"TTFT reduction, hit vs cold (medians): [bold]{comparison['ttft_reduction']:.1%}[/]{goal}")
    else:
        for key, value in comparison.items():
            console.print(f"  {key}: {json.dumps(value, default=str) if isinstance(value, (dict, list)) else value}")
    console.print("[red]FAIL[/]: " + failure if failure else "[green]PASS[/]")


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C and SIGTERM stop the run the same way: servers this run started are stopped, results kept.
    handle_interrupts()
    stack, started, out, new_run, created_out, writer, tracing = None, False, None, False, False, None, None
    try:
        args = parse_args(argv)
        if args.resume:
            keep_stack = args.keep_stack  # how to leave the servers is this invocation's choice
            run_id, args = load_run(args.resume)
            args.keep_stack = keep_stack
            out = prepare_out_dir(args.resume)
        validate(args)
        scenario = get_scenario(args.scenario)
        if args.concurrency:
            scenario.concurrency = args.concurrency
        ctx = Context()  # reads LMLAB_* now, so a bad value fails before any folder or server exists
        get_layout(ctx.layout)  # an unknown LMLAB_LAYOUT fails here, listing the valid ones
        if (langfuse := langfuse_settings()).error:
            raise UserError(langfuse.error)
        if args.endpoint and scenario.needs_launcher:
            raise UserError(f"{scenario.name} restarts and resets the servers itself, so it needs the local stack; drop --endpoint")
        if not args.resume:
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
            folder = args.out or Path("runs") / f"{run_id}-{scenario.name}"
            created_out = not folder.exists()
            out = prepare_out_dir(folder)
            new_run = True
            save_run(out, run_id, args)
        lmcache_url = ctx.lmcache_metrics_url  # LMLAB_LMCACHE_METRICS_URL: the tier split behind --endpoint
        if args.endpoint:
            endpoint = args.endpoint
        else:
            stack = Stack(scenario_stack_settings(scenario))
            started = stack.up()
            endpoint = stack.settings.endpoint
            lmcache_url = next(iter(stack.settings.lmcache_urls()), "")
        ctx = replace(build_context(args, endpoint), lmcache_metrics_url=lmcache_url)
        if stack and not args.model and not os.environ.get(env_name("model")):
            ctx = replace(ctx, model=stack.settings.served_model_name)  # whatever the launched stack serves
        check_endpoint(ctx.endpoint, ctx.model, ctx.api_key)
        if args.endpoint and ctx.lmcache_metrics_url and scrape_metrics(ctx.lmcache_metrics_url) is None:
            raise UserError(f"LMLAB_LMCACHE_METRICS_URL={ctx.lmcache_metrics_url!r} does not answer with LMCache's /metrics; "
                            "fix it (the LMCache server's HTTP root, e.g. http://127.0.0.1:8090) or leave it empty")  # fmt: skip
        opts = ScenarioOptions(run_id=run_id, questions=args.questions, repeats=args.repeats, context=ctx, stack=stack,
                               manual_tokens=args.manual_tokens)  # fmt: skip
        done = done_calls(out)
        sessions = [rest for s in scenario.sessions(opts) if (rest := s.remaining(done)) is not None]
        total = sum(len(s.questions) for s in sessions) * scenario.calls_per_question
        resumed = f" ({len(done)} calls already done)" if done else ""
        console.print(f"[bold]{scenario.name}[/]: {len(sessions)} sessions, {total} calls against {ctx.endpoint}{resumed}; results in {out}")
        tracing = Tracing.from_env(run_id)
        if tracing.warning:
            print(f"warning: {tracing.notice}", file=sys.stderr)
        else:
            console.print(tracing.notice)
        writer = ResultsWriter(out)
        started_at = time.monotonic()

        def on_call(record) -> None:
            row = record.row()
            tiers = ""
            if row.get("lmcache_l1_hit_tokens") is not None:
                tiers = f"  (vLLM {row['device_hit_tokens']}, LMCache L1 {row['lmcache_l1_hit_tokens']}, L2 {row['lmcache_l2_hit_tokens']})"
            predicted = row.get("predicted_cached_tokens")
            shared = f" (predicted {predicted}, shared prefix {row['shared_prefix_tokens']})" if predicted is not None else ""
            console.print(
                f"  [{writer.rows_written}/{total}] {row['session']} q{row['question_id']} {row['variant']:<5} "
                f"TTFT {row['ttft_ms']:>8.0f} ms  cached {row['cached_tokens']}/{row['prompt_tokens']}{shared}{tiers}"
            )
            if row.get("cache_note") and not scenario.kv_from_earlier_sessions:
                console.print(f"    [yellow]! prediction off by more than one chunk: {row['cache_note']}[/]")

        before = counters_snapshot(ctx)
        run = Run(run_id, scenario, writer, on_call, tracing=tracing)
        scenario.run(sessions, run)
        errors = run.errors
        after = counters_snapshot(ctx)
        writer.close()
        elapsed = time.monotonic() - started_at
        trace_problem = tracing.flush()
        if trace_problem:
            print(f"warning: {trace_problem}", file=sys.stderr)
        tags = [scenario.name, *dict.fromkeys(v for s in sessions for v in s.variants)]

        df = load_results(out)
        table = variant_table(df)
        comparison = scenario.comparison(df)
        expect = args.expect_reduction if args.expect_reduction is not None else scenario.default_expect
        failure = scenario.check(comparison, expect)
        if errors:
            failure = f"{len(errors)} of {len(sessions)} sessions failed, first: {errors[0]}"
        totals = run_cache_totals(df, before, after)
        mismatches = int((df["cache_note"].astype("string").fillna("") != "").sum())
        write_summary(out, {
            "run_id": run_id,
            "scenarios": {scenario.name: {"variants": variants_as_dict(table, scenario.name), "comparison": comparison,
                                          "expect_reduction": expect, "passed": failure is None,
                                          "prediction_mismatches": mismatches}},
            "config": {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                       "context": {k: v for k, v in vars(ctx).items() if k != "api_key"},
                       "stack": stack.settings.as_dict() if stack else {"endpoint": endpoint}},
            "versions": versions(),
            "elapsed_s": round(elapsed, 1),
            "errors": errors,
            "run_cache_totals": totals,
            "tracing": {**tracing.info(), "tags": tags if tracing.enabled else [], "problem": trace_problem},
        })  # fmt: skip
        report = write_report(out)
        print_summary(table, comparison, scenario, expect, failure)
        if totals and scenario.concurrency > 1:
            console.print(f"  hits by source over the run: vLLM cache {totals['device_hit_rate']:.1%}, LMCache {totals['lmcache_hit_rate']:.1%}")
        if mismatches and not scenario.kv_from_earlier_sessions:
            console.print(f"[yellow]{mismatches} calls were more than one chunk off their prediction (cache_note in results.csv)[/]")
        console.print(f"wrote {out / 'results.csv'}, {out / 'summary.json'} and {report} with its charts ({elapsed:.0f} s of calls)")
        if failure:
            print(f"error: {failure}", file=sys.stderr)
            return 1
        return 0
    except ServerGone as err:
        print(f"error: {err}; {stopped_run_advice(out, stack)}", file=sys.stderr)
        return err.exit_code
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except (httpx.HTTPError, openai.APIError) as err:
        # Any other way a server can vanish mid-run, from any node.
        print(f"error: lost contact with a server ({type(err).__name__}: {err}); {stopped_run_advice(out, stack)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; {kept_calls(out)}" if writer else "interrupted", file=sys.stderr)
        return 130
    finally:
        if writer:
            writer.close()
        if new_run:
            discard_unused_run(out, created_out)
        if tracing:
            tracing.flush()  # bounded; sends what an interrupted run traced (a no-op when done)
            tracing.close()
        if started and stack and not (args.keep_stack if "args" in locals() else False):
            stack.down()


if __name__ == "__main__":
    sys.exit(main())
