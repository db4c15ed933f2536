"""``python -m experiments.gpu.hit_timing OUT.json [MANUAL_TOKENS] [EDITIONS] [PAUSE_S]``: does a hit's
TTFT depend on when it is asked?

``cold_hit`` asks its hits back to back, the first one right after the cold call. This asks the same
graph calls on fresh manual editions against the running stack (``LMLAB_*`` settings) in a fixed
pattern, to tell apart what could make those hits slow (issue 17):

- calls 1 and 2 follow the cold call at once, as in ``cold_hit`` (``pause_s`` 0): if LMCache were still
  storing the cold call's KV, these would contend with it;
- calls 3 and 4 each wait ``PAUSE_S`` first (default 3 s): "settled" hits;
- around every call, the host's CPU counters (``/proc/stat``): busy and stolen share of all cores,
  since host-side work (the API server rendering and tokenizing 31k tokens) is most of a hit;
- after each edition's calls, vLLM's ``/tokenize`` of that edition's hit chat (median of 3): the
  server's own host-side cost at that moment, to set beside that edition's hits.
"""

import json
import statistics
import sys
import time
import uuid
from dataclasses import replace

from experiments.run.clients import BARE, QA_GRAPH
from experiments.gpu.breakdown import timed_tokenize
from experiments.run.plan import question_session
from graphs.context import Context
from lab.cli import command
from lab.settings import resolve
from serving.settings import StackSettings

QUESTIONS = 5  # the cold call and four hits, as in cold_hit
IMMEDIATE = 2  # hits asked at once after the cold call; the rest wait PAUSE_S each


def cpu_counters() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal ..."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def cpu_shares(before: list[int], after: list[int]) -> dict:
    """Share of all cores between two readings that the machine's own work used (neither idle, iowait
    nor steal), and the share the hypervisor stole: a busy neighbour shows as steal, not as busy."""
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta[:8]) or 1  # guest time is already inside user
    return {"cpu_busy": round(1 - (delta[3] + delta[4] + delta[7]) / total, 3), "cpu_steal": round(delta[7] / total, 3)}


def edition_calls(ctx: Context, repeat: int, pause_s: float) -> tuple[list[dict], float]:
    """One fresh edition through the graph: its calls as rows, then /tokenize of its hit chat."""
    session = question_session(f"hit_timing-r{repeat}", repeat, QUESTIONS, f"edition {uuid.uuid4().hex}", ctx)
    rows, calls = [], QA_GRAPH.calls(session, {"run_name": session.name})
    for position in range(QUESTIONS):
        pause = pause_s if position > IMMEDIATE else 0.0
        time.sleep(pause)
        before, start = cpu_counters(), time.time()
        call = next(calls)  # the graph makes the next call only when asked
        rows.append({"repeat": repeat, "position": position, "variant": "cold" if position == 0 else "hit",
                     "pause_s": pause, "started_at": round(start, 3), "ttft_ms": round(call.ttft_ms, 1),
                     "prompt_tokens": call.prompt_tokens, "device_hit_tokens": call.device_hit_tokens,
                     "lmcache_hit_tokens": call.lmcache_hit_tokens, **cpu_shares(before, cpu_counters())})  # fmt: skip
    calls.close()
    _, messages, _ = list(BARE.prompts(session))[1]
    tokenize_ms, _ = timed_tokenize(ctx, messages, repeats=3)
    return rows, tokenize_ms


def medians(rows: list[dict], **match) -> float | None:
    values = [r["ttft_ms"] for r in rows if all(r[k] == v for k, v in match.items())]
    return round(statistics.median(values), 1) if values else None


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0]
    tokens = int(argv[1]) if len(argv) > 1 else 31000
    editions = int(argv[2]) if len(argv) > 2 else 4
    pause_s = float(argv[3]) if len(argv) > 3 else 3.0
    settings = resolve(StackSettings)
    ctx = resolve(Context, {"endpoint": settings.endpoint, "model": settings.served_model_name, "api_key": settings.api_key or "EMPTY",
                            "lmcache_metrics_url": next(iter(settings.lmcache_urls()), ""), "truncate_manual": True,
                            "manual_tokens": tokens, "max_tokens": 16})  # fmt: skip
    ctx = replace(ctx, layout="manual_first")
    rows, tokenize = [], []
    for repeat in range(editions):
        edition_rows, tokenize_ms = edition_calls(ctx, repeat, pause_s)
        rows += edition_rows
        tokenize.append(tokenize_ms)
        print(json.dumps({"repeat": repeat, "ttft_ms": [r["ttft_ms"] for r in edition_rows], "tokenize_ms": tokenize_ms}), flush=True)
    figures = {"manual_tokens": tokens, "editions": editions, "pause_s": pause_s,
               "cold_ms": medians(rows, variant="cold"), "immediate_hit_ms": medians(rows, variant="hit", pause_s=0.0),
               "settled_hit_ms": medians(rows, variant="hit", pause_s=pause_s),
               "first_hit_ms": medians(rows, position=1), "tokenize_hit_chat_ms": tokenize, "calls": rows}  # fmt: skip
    with open(out, "w") as f:
        f.write(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "calls"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
