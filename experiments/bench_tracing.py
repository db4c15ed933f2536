"""``python -m experiments.bench_tracing``: what LangFuse tracing costs a cache hit.

One cold graph run puts a manual edition in the cache; then many short graph runs ask hit
questions over it, traced and untraced in turn (off, on, on, off, ...), side by side in one process,
so that load from other work on a shared machine falls on both alike. Traced runs send everything
the SDK sends (node spans, the generation, scores) to ``--langfuse``: a local LangFuse receiver
(the normal case), a host that accepts connections and never answers (``hang``), or a port where
nothing listens (``refused``). The SDK's background export runs during both kinds of runs, as it
would in a traced experiment. The end-of-run flush is timed: it must give up within its 5 s bound.
Writes ``bench_tracing.json`` (figures, every call, configuration, versions) into ``--out`` and
exits 1 when tracing slows the median hit TTFT by more than ``--max-overhead`` or the flush overruns.

  --runs N           graph runs after the cold one, half of them traced (default 40)
  --questions N      hit questions per graph run (default 2)
  --manual-tokens N  manual size (default: a default run's, Context.manual_tokens)
  --langfuse WHERE   receiver (default), hang or refused
  --endpoint URL     use a running server; default: start (or reuse) the local stack
"""

import json
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.run.results import ResultsWriter, prepare_out_dir, versions
from experiments.run.executor import Executor
from observability.sinks import AcceptAll, BlackHole, refused_url
from experiments.run.plan import Session, questions_for
from graphs.context import Context
from lab.cli import ArgumentParser, command
from lab.settings import resolve
from lab.errors import UserError
from observability.tracing import Tracing
from serving.launcher import Stack
from serving.settings import StackSettings

RESULT_JSON = "bench_tracing.json"
KEPT = ("session", "question_id", "variant", "ttft_ms", "cached_tokens", "prompt_tokens")
FLUSH_TIMEOUT_S = 5.0  # what run_graph gives the SDK at the end of a run
FLUSH_SLACK_S = 0.25  # handing the flush to its thread and back
LANGFUSE_TARGETS = {
    "receiver": "a local LangFuse receiver that takes everything",
    "hang": "a host that accepts connections and never answers",
    "refused": "a port where nothing listens",
}


@contextmanager
def langfuse_target(where: str) -> Iterator[tuple[str, AcceptAll | None]]:
    """The base URL traced runs send to, and the receiver behind it when there is one."""
    if where == "receiver":
        with AcceptAll() as receiver:
            yield receiver.url, receiver
    elif where == "hang":
        with BlackHole() as host:
            yield host.url, None
    else:
        yield refused_url(), None


def parse_args(argv):
    p = ArgumentParser(prog="python -m experiments.bench_tracing", description=__doc__.split("\n\n")[1])
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--questions", type=int, default=2)
    p.add_argument("--manual-tokens", type=int, default=Context().manual_tokens)
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--max-overhead", type=float, default=0.05, help="fail above this slowdown of the median hit TTFT")
    p.add_argument("--langfuse", choices=list(LANGFUSE_TARGETS), default="receiver",
                   help="where traces go: " + "; ".join(f"{k}: {v}" for k, v in LANGFUSE_TARGETS.items()))  # fmt: skip
    p.add_argument("--endpoint")
    p.add_argument("--out", type=Path, help="default runs/<time>-bench_tracing")
    args = p.parse_args(argv)
    if args.runs < 2 or args.questions < 1:
        raise UserError("--runs must be at least 2 and --questions at least 1")
    return args


def bench(args, endpoint: str, out: Path) -> dict:
    ctx = resolve(Context, {"endpoint": endpoint, "manual_tokens": args.manual_tokens, "max_tokens": args.max_tokens,
                            "truncate_manual": True})  # fmt: skip
    ctx.server.check()
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-tracing"
    rows: list[dict] = []
    with langfuse_target(args.langfuse) as (url, receiver), ResultsWriter(out) as writer:
        env = {"LANGFUSE_PUBLIC_KEY": f"pk-lf-bench-{uuid.uuid4().hex[:6]}", "LANGFUSE_SECRET_KEY": "sk-lf-bench",
               "LANGFUSE_BASE_URL": url}  # fmt: skip
        tracing = Tracing.from_env(run_id, env)
        try:
            edition = f"edition {run_id}"
            plan = [("cold", "off", ["cold"])] + [
                (f"r{i}", "off" if i % 4 in (0, 3) else "on", ["hit"] * args.questions) for i in range(args.runs)
            ]
            for i, (name, mode, variants) in enumerate(plan):
                session = Session(name=f"{name}-{mode}", repeat=i, questions=questions_for(i, len(variants)),
                                  variants=variants, edition=edition, context=ctx)  # fmt: skip

                def keep(record, mode=mode, block=(i - 1) // 4):
                    row = record.row()
                    rows.append({"tracing": mode, "block": block, **{k: row[k] for k in KEPT}})
                    print(f"  {row['session']:<9} {row['variant']} TTFT {row['ttft_ms']:>8.1f} ms", flush=True)

                Executor(run_id, "cold_hit", writer, keep, tracing=tracing if mode == "on" else None).session(session)
            flush_started = time.monotonic()
            problem = tracing.flush(timeout_s=FLUSH_TIMEOUT_S)
            flush_s = time.monotonic() - flush_started
        finally:
            tracing.close()
        delivered = None
        if receiver is not None:
            delivered = {"spans": receiver.span_count, "scores": receiver.score_count}

    hits = {m: [r["ttft_ms"] for r in rows if r["tracing"] == m and r["variant"] == "hit"] for m in ("off", "on")}
    if not hits["off"] or not hits["on"] or min(r["cached_tokens"] for r in rows if r["variant"] == "hit") == 0:
        raise UserError("some hit questions were not served from cache; is LMCache running behind the endpoint?")
    off, on = statistics.median(hits["off"]), statistics.median(hits["on"])
    change = on / off - 1
    # Load from other work drifts over minutes; each block of four runs (off, on, on, off) spans
    # seconds, so its own on/off ratio is the steadier view.
    blocks = {}
    for r in rows:
        if r["variant"] == "hit":
            blocks.setdefault(r["block"], {"off": [], "on": []})[r["tracing"]].append(r["ttft_ms"])
    ratios = [statistics.median(b["on"]) / statistics.median(b["off"]) for b in blocks.values() if b["on"] and b["off"]]
    flush_bounded = flush_s <= FLUSH_TIMEOUT_S + FLUSH_SLACK_S
    return {
        "langfuse": {"target": args.langfuse, "means": LANGFUSE_TARGETS[args.langfuse], "base_url": url},
        "hit_ttft_median_ms": {"off": round(off, 2), "on": round(on, 2)},
        "change": round(change, 4),
        "change_median_of_blocks": round(statistics.median(ratios) - 1, 4),
        "max_overhead": args.max_overhead,
        "flush_s": round(flush_s, 3),
        "flush_bound_s": FLUSH_TIMEOUT_S,
        "flush_bounded": flush_bounded,
        "passed": change <= args.max_overhead and flush_bounded,
        "hit_calls": {m: len(v) for m, v in hits.items()},
        "cold_ttft_ms": next(r["ttft_ms"] for r in rows if r["variant"] == "cold"),
        "delivered_to_receiver": delivered,
        "flush_problem": problem,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()} | {"endpoint": endpoint},
        "versions": versions(),
        "note": "measured on a shared machine; traced and untraced runs alternate, so load falls on both alike",
        "calls": rows,
    }


@command
def main(argv: list[str] | None = None) -> int:
    stack, started = None, False
    try:
        args = parse_args(argv)
        suffix = "" if args.langfuse == "receiver" else f"-{args.langfuse}"
        out = prepare_out_dir(args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-bench_tracing{suffix}")
        if args.endpoint:
            endpoint = args.endpoint
        else:
            stack = Stack(resolve(StackSettings))
            started = stack.up()
            endpoint = stack.settings.endpoint
        result = bench(args, endpoint, out)
        (out / RESULT_JSON).write_text(json.dumps(result, indent=2) + "\n")
        m = result["hit_ttft_median_ms"]
        print(f"LangFuse: {LANGFUSE_TARGETS[args.langfuse]} ({result['langfuse']['base_url']})")
        print(f"median hit TTFT: {m['off']:.1f} ms untraced, {m['on']:.1f} ms traced: {result['change']:+.1%} "
              f"({result['hit_calls']['on']} hits each; limit +{args.max_overhead:.0%}); "
              f"per block of 4 runs: {result['change_median_of_blocks']:+.1%}")  # fmt: skip
        print(f"flush at the end: {result['flush_s']:.2f} s (bound {FLUSH_TIMEOUT_S:g} s): "
              f"{result['flush_problem'] or 'everything sent'}")  # fmt: skip
        print(f"wrote {out / RESULT_JSON}")
        return 0 if result["passed"] else 1
    finally:
        if started and stack:
            stack.down()


if __name__ == "__main__":
    sys.exit(main())
