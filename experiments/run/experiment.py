"""``run_experiment(spec) -> RunResult``: one run, planned, executed and analysed.

What ``run_graph``, ``bench``, the notebook and the tests call. It creates (or resumes) the run
folder, starts or reuses the local stack unless the spec names an endpoint, plans the scenario's
sessions (its ``Plan``), executes them (each finished call lands in results.csv at once), then writes
summary.json, report.md and the charts. The run's stacks (``experiments.run.stacks.Stacks``, which
the scenario asks to restart or switch them) are stopped at the end when this run started them, also
on failure or Ctrl-C (unless ``keep_stack``). A server lost mid-run raises ``ServerGone`` naming what
was kept and how to finish (``--resume``); Ctrl-C raises ``Interrupted``.
"""

import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pandas as pd
from rich.console import Console

from clients.measured import counters_snapshot
from clients.endpoint import scrape_metrics
from experiments.run.executor import Executor
from experiments.run.manual_fit import check_manual_fits
from experiments.report import write_report
from experiments.run.plan import Plan
from experiments.run.results import RESULTS_CSV, ResultsWriter, count_rows, load_results, prepare_out_dir, versions, write_summary
from experiments.run.stacks import Stacks
from experiments.scenarios import Scenario, ScenarioOptions, create
from experiments.scenarios.base import ManualBudget
from experiments.run.spec import RUN_JSON, RunSpec
from experiments.analysis.correctness import correctness
from experiments.analysis.summary import variant_table, variants_as_dict
from graphs.context import Context
from lab.cli import finish_the_call_in_flight
from lab.errors import ServerGone, UserError
from metrics.prometheus import delta, hit_tokens
from metrics.records import CallRecord
from observability.experiments import experiment_plan
from observability.tracing import Tracing
from prompts.questions import expectations


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run; the message says what was kept."""


@dataclass
class RunResult:
    out: Path
    run_id: str
    scenario: Scenario
    summary: dict
    table: pd.DataFrame  # per (scenario, variant) figures, as in summary.json
    comparison: dict
    expect: float | None
    failure: str | None  # the pass mark missed, or None
    report: Path

    @property
    def exit_code(self) -> int:
        return 1 if self.failure else 0


def kept_calls(out: Path | None) -> str:
    """What a stopped run keeps, for its last line."""
    n = count_rows(out) if out is not None else 0
    return f"{n} finished calls are kept in {out / RESULTS_CSV}" if n else "no call had finished"


def stopped_run_advice(out: Path | None, stack: Stacks | None) -> str:
    """After a server stopped mid-run: what is kept and how to go on."""
    restart = "restart the stack (python -m serving down && python -m serving up)" if stack else "restart the server"
    if out is not None and count_rows(out):
        return f"{kept_calls(out)}; {restart}, then finish the run with --resume {out}"
    return f"no call had finished; {restart}, then run again"


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


def done_calls(out: Path) -> set[tuple[str, int]]:
    """(session, question id) of every call already in results.csv."""
    if not (out / RESULTS_CSV).is_file():
        return set()
    df = load_results(out)
    return {(s, int(q)) for s, q in zip(df["session"], df["question_id"], strict=True)}


def run_cache_totals(df: pd.DataFrame, before: dict | None, after: dict | None) -> dict | None:
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


def call_line(record: CallRecord, progress: str) -> str:
    """The progress line of one finished call; ``progress`` is e.g. ``7/20``."""
    tiers = ""
    if record.lmcache_l1_hit_tokens is not None:
        tiers = f"  (vLLM {record.device_hit_tokens}, LMCache L1 {record.lmcache_l1_hit_tokens}, L2 {record.lmcache_l2_hit_tokens})"
    predicted = record.predicted_cached_tokens
    shared = f" (predicted {predicted}, shared prefix {record.shared_prefix_tokens})" if predicted is not None else ""
    where = f" on {record.instance}" if record.instance else ""  # a fleet: the instance that served it
    if record.error:
        return f"  [{progress}] {record.session} q{record.question_id} {record.variant:<5}{where} error: {record.error}"
    return (f"  [{progress}] {record.session} q{record.question_id} {record.variant:<5}{where} "
            f"TTFT {record.ttft_ms:>8.0f} ms  cached {record.cached_tokens}/{record.prompt_tokens}{shared}{tiers}")  # fmt: skip


@dataclass(frozen=True)
class Executed:
    """What a run's execution hands its analysis, besides results.csv."""

    out: Path
    run_id: str
    scenario: Scenario
    plan: Plan
    context: Context
    errors: list[str]  # one per failed session
    before: dict | None  # the servers' /metrics counters before the first call and after the last
    after: dict | None
    elapsed_s: float
    tracing: dict  # summary.json's "tracing"


class _Run:
    """The state one run carries from start to cleanup."""

    def __init__(self, spec: RunSpec, console: Console):
        self.spec, self.console = spec, console
        self.out: Path | None = None
        self.new_run = self.created_out = False
        self.stacks: Stacks | None = None
        self.writer: ResultsWriter | None = None
        self.tracing: Tracing | None = None

    def open_folder(self, scenario: Scenario) -> str:
        args = self.spec.args
        if args.resume:
            self.out = prepare_out_dir(args.resume)
            return self.spec.run_id
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        folder = args.out or Path("runs") / f"{run_id}-{scenario.name}"
        self.created_out = not folder.exists()
        self.out = prepare_out_dir(folder)
        self.new_run = True
        (self.out / RUN_JSON).write_text(json.dumps({"run_id": run_id, **self.spec.saved()}, indent=2) + "\n")
        return run_id

    def connect(self) -> Context:
        spec = self.spec
        if spec.stack is None:
            ctx = spec.context
        else:
            self.stacks = Stacks(spec.stack, keep=spec.args.keep_stack)
            self.stacks.up()
            ctx = spec.connect(self.stacks.settings)
        ctx.server.check()
        if spec.stack is None and ctx.lmcache_metrics_url and scrape_metrics(ctx.lmcache_metrics_url) is None:
            raise UserError(f"LMLAB_LMCACHE_METRICS_URL={ctx.lmcache_metrics_url!r} does not answer with LMCache's /metrics; "
                            "fix it (the LMCache server's HTTP root, e.g. http://127.0.0.1:8090) or leave it empty")  # fmt: skip
        return ctx

    def close(self) -> None:
        if self.writer:
            self.writer.close()
        if self.new_run and self.out is not None:
            discard_unused_run(self.out, self.created_out)
        if self.tracing:
            self.tracing.flush()  # bounded; sends what an interrupted run traced (a no-op when done)
            self.tracing.close()
        if self.stacks:
            self.stacks.close()


def run_experiment(spec: RunSpec, console: Console | None = None) -> RunResult:
    """Run ``spec`` to the end and analyse it. Raises ``UserError`` (bad input, a server that will
    not start), ``ServerGone`` (a server lost mid-run) or ``Interrupted``; a missed pass mark is the
    result's ``failure``, not an exception."""
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    run = _Run(spec, console)
    try:
        scenario = create(spec.args.scenario, concurrency=spec.args.concurrency)
        for note in spec.pinned():
            console.print(f"[yellow]note:[/] {note}")
        check_manual_fits(spec, log=console.print)  # before the run folder and the stack: refused in seconds
        run_id = run.open_folder(scenario)
        ctx = run.connect()
        manual = ManualBudget(ctx.manual_tokens, given=spec.args.manual_tokens is not None)
        opts = ScenarioOptions(run_id=run_id, questions=spec.args.questions, repeats=spec.args.repeats, context=ctx,
                               stacks=run.stacks, params=spec.params, manual=manual, duration_s=spec.args.duration,
                               question_pool=spec.questions)  # fmt: skip
        done = done_calls(run.out)
        plan = scenario.sessions(opts).remaining(done)
        total = sum(len(s.questions) for s in plan) * scenario.calls_per_question
        resumed = f" ({len(done)} calls already done)" if done else ""
        console.print(f"[bold]{scenario.name}[/]: {len(plan)} sessions, {scenario.planned(plan, total)} against {ctx.endpoint}{resumed}; results in {run.out}")
        run.tracing = Tracing.from_env(run_id)
        if run.tracing.warning:
            print(f"warning: {run.tracing.notice}", file=sys.stderr)
        else:
            console.print(run.tracing.notice)
        run.tracing.record_experiments(lambda: experiment_plan(run_id, scenario.name, vars(ctx),
                                                               run.stacks.settings.as_dict() if run.stacks else {},
                                                               versions(), scenario.baseline))  # fmt: skip
        run.writer = ResultsWriter(run.out)

        def on_call(record: CallRecord) -> None:
            console.print(call_line(record, scenario.progress(plan, run.writer.rows_written, total)))
            if record.cache_note and not scenario.kv_from_earlier_sessions:
                console.print(f"    [yellow]! prediction off by more than one chunk: {record.cache_note}[/]")
            stop_if_asked()  # a Ctrl-C noted during this call stops the run here, between calls

        started_at = time.monotonic()
        before = counters_snapshot(ctx.server)
        executor = Executor(run_id, scenario.name, run.writer, on_call, tracing=run.tracing, expected=expectations(spec.questions))
        # Servers that outlive this run (--endpoint, --keep-stack, a reused stack) may serve others:
        # Ctrl-C lets the call in flight finish instead of aborting it (vllm-project/vllm#43226).
        with finish_the_call_in_flight(run.stacks is None or not run.stacks.started or spec.args.keep_stack) as stop_if_asked:
            scenario.run(plan, executor)
        after = counters_snapshot(ctx.server)
        run.writer.close()
        elapsed = time.monotonic() - started_at
        if (run.out / RESULTS_CSV).exists():
            run.tracing.experiment_results(load_results(run.out))  # the experiment runs' scores
        trace_problem = run.tracing.flush()
        if trace_problem:
            print(f"warning: {trace_problem}", file=sys.stderr)
        tags = [scenario.name, *dict.fromkeys(v for s in plan for v in s.variants)]
        tracing = {**run.tracing.info(), "tags": tags if run.tracing.enabled else [], "problem": trace_problem}
        return analyse(spec, Executed(run.out, run_id, scenario, plan, ctx, executor.errors, before, after, elapsed, tracing))
    except ServerGone as err:
        raise ServerGone(f"{err}; {stopped_run_advice(run.out, run.stacks)}") from None
    except UserError:
        raise
    except (httpx.HTTPError, openai.APIError) as err:
        # Any other way a server can vanish mid-run, from any node.
        raise ServerGone(f"lost contact with a server ({type(err).__name__}: {err}); {stopped_run_advice(run.out, run.stacks)}") from None
    except KeyboardInterrupt:
        raise Interrupted(kept_calls(run.out) if run.writer else "") from None
    finally:
        run.close()


def analyse(spec: RunSpec, run: Executed) -> RunResult:
    """Judge the run from its results.csv, write summary.json and report.md."""
    scenario, errors = run.scenario, run.errors
    df = load_results(run.out)
    table = variant_table(df)
    comparison = scenario.comparison(df, run.plan)
    expect = spec.args.expect_reduction if spec.args.expect_reduction is not None else scenario.default_expect
    failure = scenario.check(comparison, expect)
    if errors:
        failure = f"{len(errors)} of {len(run.plan)} sessions failed, first: {errors[0]}"
    totals = run_cache_totals(df, run.before, run.after)
    mismatches = int((df["cache_note"].astype("string").fillna("") != "").sum())
    summary = {
        "run_id": run.run_id,
        "scenarios": {scenario.name: {"variants": variants_as_dict(table, scenario.name), "comparison": comparison,
                                      "headline": scenario.summary_lines(comparison), "expect_reduction": expect,
                                      "passed": failure is None, "prediction_mismatches": mismatches}},
        "config": spec.summary_config(run.context),
        "versions": versions(),
        "elapsed_s": round(run.elapsed_s, 1),
        "errors": errors,
        "run_cache_totals": totals,
        "correctness": correctness(df),
        "tracing": run.tracing,
    }  # fmt: skip
    write_summary(run.out, summary)
    report = write_report(run.out)
    return RunResult(run.out, run.run_id, scenario, summary, table, comparison, expect, failure, report)
