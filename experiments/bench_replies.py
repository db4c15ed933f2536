"""``python -m experiments.bench_replies``: what asking for a JSON schema costs a call's TTFT.

One agent node's prompt (the ``shared_prefix`` layout over the manual, the node's JSON reply
format) is sent in rounds, each round three calls on the same prompt, in turn:

- ``free``: unconstrained (no ``response_format``);
- ``first``: held to the node's schema made new for this round (a round number in its
  description), so the server compiles its grammar: the cost a user pays once per schema;
- ``later``: held to that same schema again, its grammar compiled already.

One unconstrained call before the rounds puts the manual in the cache, so every measured call is a
cache hit and the figures differ by the schema alone; then one constrained call (``opening``) on a
schema of its own: on a server that has not served a schema since it started, it also pays the
structured-output backend's one-time set-up (run the bench right after ``python -m serving up`` to
see it; on a server that has, it is one more ``first``); the cached and prompt tokens of each kind
show that the hit rate does not depend on it. The calls go through the agent's own streamer
(``clients.chat_stream.ChatStreamer``: langchain-openai, the schema in the request body).
Writes ``bench_replies.json`` (medians, every call, configuration, versions) into ``--out``.

  --rounds N         rounds of (free, first, later) (default 10)
  --node NODE        plan or check (default plan)
  --manual-tokens N  manual size (default: a default run's, Context.manual_tokens)
  --endpoint URL     use a running server; default: start (or reuse) the local stack
"""

import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from clients.chat_stream import ChatStreamer
from experiments.run.results import prepare_out_dir, versions
from graphs.context import Context
from lab.cli import ArgumentParser, command
from lab.errors import UserError
from lab.settings import resolve
from prompts.agent import check_task, node_messages, plan_task
from prompts.agent_output import REPLY_MAX_TOKENS, SCHEMAS, response_format
from prompts.layouts import static_prefix
from prompts.manual import builtin_manual, cut_to_budget
from serving.launcher import Stack
from serving.settings import StackSettings

RESULT_JSON = "bench_replies.json"
KINDS = ("free", "first", "later")
QUESTION = "What does the assert statement do?"
TASKS = {"plan": plan_task(QUESTION), "check": check_task(QUESTION, "It raises AssertionError when its condition is false.")}


def parse_args(argv):
    p = ArgumentParser(prog="python -m experiments.bench_replies", description=__doc__.split("\n\n")[1])
    p.add_argument("--rounds", type=int, default=10, help="rounds of (free, first, later) calls (default 10)")
    p.add_argument("--node", choices=list(SCHEMAS), default="plan", help="whose prompt and schema (default plan)")
    p.add_argument("--manual-tokens", type=int, default=Context().manual_tokens, help="manual size (default a default run's)")
    p.add_argument("--endpoint", help="use a running server; default: start (or reuse) the local stack")
    p.add_argument("--out", type=Path, help="default runs/<time>-bench_replies")
    args = p.parse_args(argv)
    if args.rounds < 1:
        raise UserError("--rounds must be at least 1")
    return args


def fresh_schema(node: str, round_: int, stamp: str) -> dict:
    """``node``'s response_format with a description no earlier call sent: the same grammar, which
    a server that caches compiled grammars by their schema text must compile anew."""
    rf = response_format(node)
    schema = rf["json_schema"]["schema"] | {"description": f"{rf['json_schema']['schema'].get('description', '')} (bench {stamp} round {round_})"}
    return rf | {"json_schema": rf["json_schema"] | {"schema": schema}}


def messages_for(ctx: Context, node: str) -> list[dict]:
    """The node's prompt as the agent graph sends it under ``shared_prefix``, on a manual of its own."""
    edition = f"bench_replies {time.strftime('%Y%m%d-%H%M%S')}"

    def tokens(manual: str) -> int:
        return ctx.server.count_chat_tokens([{"role": "system", "content": static_prefix(manual, edition)}], add_generation_prompt=False)

    manual = cut_to_budget(builtin_manual(), tokens, ctx.manual_tokens + tokens(""), chunk_size=ctx.chunk_size)
    return node_messages("shared_prefix", "independent", static_prefix(manual, edition), node, TASKS[node], [], "json_schema")


def bench(args, endpoint: str) -> dict:
    ctx = resolve(Context, {"endpoint": endpoint, "manual_tokens": args.manual_tokens, "truncate_manual": True})
    ctx.server.check()
    messages = messages_for(ctx, args.node)
    # The same token cap for every kind: a schema-held reply's, as the agent sends it.
    free = ChatStreamer(REPLY_MAX_TOKENS, ctx.temperature)
    warm = free(ctx.server, messages)
    print(f"  warm-up (cold prefix): TTFT {warm.ttft_ms:8.1f} ms, cached {warm.cached_tokens}/{warm.prompt_tokens}", flush=True)
    stamp = time.strftime("%H%M%S")
    opening = replace(free, response_format=fresh_schema(args.node, -1, stamp))(ctx.server, messages)
    print(f"  opening constrained call: TTFT {opening.ttft_ms:8.1f} ms", flush=True)
    calls = []
    for r in range(args.rounds):
        schema = fresh_schema(args.node, r, stamp)
        for kind, streamer in (("free", free), ("first", replace(free, response_format=schema)), ("later", replace(free, response_format=schema))):
            res = streamer(ctx.server, messages)
            calls.append({"round": r, "kind": kind, "ttft_ms": res.ttft_ms, "total_ms": res.total_ms, "prompt_tokens": res.prompt_tokens,
                          "cached_tokens": res.cached_tokens, "completion_tokens": res.completion_tokens, "answer": res.answer})  # fmt: skip
            print(f"  round {r:>2} {kind:<5} TTFT {res.ttft_ms:8.1f} ms  total {res.total_ms:8.1f} ms  "
                  f"cached {res.cached_tokens}/{res.prompt_tokens}  {res.completion_tokens} tokens", flush=True)  # fmt: skip
    by_kind = {}
    for kind in KINDS:
        rows = [c for c in calls if c["kind"] == kind]
        by_kind[kind] = {
            "calls": len(rows),
            "ttft_median_ms": round(statistics.median(c["ttft_ms"] for c in rows), 1),
            "ttft_min_ms": round(min(c["ttft_ms"] for c in rows), 1),
            "ttft_max_ms": round(max(c["ttft_ms"] for c in rows), 1),
            "total_median_ms": round(statistics.median(c["total_ms"] for c in rows), 1),
            # Decode time per token after the first: where the schema's token mask would show.
            "inter_token_median_ms": round(statistics.median((c["total_ms"] - c["ttft_ms"]) / max(c["completion_tokens"] - 1, 1) for c in rows), 1),
            "completion_tokens_median": statistics.median(c["completion_tokens"] for c in rows),
            "hit_rate_mean": round(statistics.mean(c["cached_tokens"] / c["prompt_tokens"] for c in rows if c["prompt_tokens"]), 4),
            "valid_json": sum(_valid(args.node, c["answer"]) for c in rows),
        }
    return {
        "node": args.node,
        "kinds": by_kind,
        "first_minus_later_ttft_median_ms": round(by_kind["first"]["ttft_median_ms"] - by_kind["later"]["ttft_median_ms"], 1),
        "later_minus_free_ttft_median_ms": round(by_kind["later"]["ttft_median_ms"] - by_kind["free"]["ttft_median_ms"], 1),
        "warm_up": {"ttft_ms": warm.ttft_ms, "cached_tokens": warm.cached_tokens, "prompt_tokens": warm.prompt_tokens},
        "opening_ttft_ms": opening.ttft_ms,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()} | {"endpoint": endpoint, "max_tokens": REPLY_MAX_TOKENS},
        "versions": versions(),
        "note": "the three kinds alternate within each round on one prompt, so load from other work falls on all alike",
        "calls": calls,
    }


def _valid(node: str, answer: str) -> bool:
    try:
        SCHEMAS[node].model_validate_json(answer)
        return True
    except ValueError:  # pydantic's ValidationError is one
        return False


@command
def main(argv: list[str] | None = None) -> int:
    stack, started = None, False
    try:
        args = parse_args(argv)
        out = prepare_out_dir(args.out or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-bench_replies")
        if args.endpoint:
            endpoint = args.endpoint
        else:
            stack = Stack(resolve(StackSettings))
            started = stack.up()
            endpoint = stack.settings.endpoint
        result = bench(args, endpoint)
        (out / RESULT_JSON).write_text(json.dumps(result, indent=2) + "\n")
        for kind, k in result["kinds"].items():
            print(f"{kind:<5} TTFT median {k['ttft_median_ms']:8.1f} ms (min {k['ttft_min_ms']:.1f}, max {k['ttft_max_ms']:.1f}), "
                  f"total {k['total_median_ms']:.1f} ms, {k['completion_tokens_median']:g} tokens at {k['inter_token_median_ms']:.1f} ms, hit rate {k['hit_rate_mean']:.1%}, "
                  f"schema-valid {k['valid_json']}/{k['calls']}")  # fmt: skip
        print(f"opening constrained call (the server's first schema, if it had none): TTFT {result['opening_ttft_ms']:.1f} ms")
        print(f"grammar compile (first - later): {result['first_minus_later_ttft_median_ms']:+.1f} ms; "
              f"constrained - free: {result['later_minus_free_ttft_median_ms']:+.1f} ms")
        print(f"wrote {out / RESULT_JSON}")
        return 0
    finally:
        if started and stack:
            stack.down()


if __name__ == "__main__":
    sys.exit(main())
