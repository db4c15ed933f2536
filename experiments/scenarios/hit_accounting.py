"""Hit accounting: where an LMCache hit's TTFT goes, per manual size, on freshly started stacks.

Per stack, size and repeat, on a fresh manual edition, one call at a time with the bare client:
1. ``cold``: the first question (recompute; LMCache and vLLM's prefix cache store the KV);
2. ``device_hit``: another question, served by vLLM's own prefix cache: the question's compute over
   the cached context, with no KV to load;
3. vLLM's prefix cache is emptied (``/reset_prefix_cache``), then ``lmcache_hit``: a third question,
   whose prefix LMCache loads back from its CPU tier: the hit being accounted for;
4. ``suffix_only``: a fourth question alone, without the manual: the request's fixed cost.
LMCache's log is then read for the retrieve time of each ``lmcache_hit`` call (joined on its response
id, see ``experiments.hit_accounting``) and the hit is split into fixed cost, KV load, compute and
the rest. The scenario restarts its stack between stacks, so each stack starts fresh, and reports
how far the stacks differ.

Sizes: ``LMLAB_ACCOUNTING_SIZES`` (comma-separated manual tokens; default: ``--manual-tokens`` or the
profile's manual budget). Stacks: ``LMLAB_ACCOUNTING_STACKS`` (default 2). It runs its own stack
(name ``accounting``) with vLLM's prefix cache on, on both profiles.
Writes ``accounting.json``, ``accounting-calls.csv``, ``lmcache-requests.log`` (the LMCache lines the
join read) and ``hit_accounting.png`` (a stacked bar per size and stack) into the run folder.
"""

import csv
import json
import os
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd

from clients.bare_stream import stream_chat
from clients.vllm import reset_prefix_cache, scrape_metrics
from experiments.hit_accounting import ADDS_UP_WITHIN, PARTS, kv_load_ms, parse_log, split_hit, spread
from experiments.scenarios.base import Scenario, ScenarioOptions, Session, questions_for
from lab.envconfig import env_name
from lab.errors import UserError
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import call_record

if TYPE_CHECKING:
    from experiments.runner import Run

SIZES_VAR = env_name("accounting_sizes")  # LMLAB_ACCOUNTING_SIZES
STACKS_VAR = env_name("accounting_stacks")  # LMLAB_ACCOUNTING_STACKS
VARIANTS = ["cold", "device_hit", "lmcache_hit"]
CALLS_CSV = "accounting-calls.csv"
LOG_COPY = "lmcache-requests.log"
# LMCache's lines worth keeping beside the results: per-request lookups, stores, retrieves (and the
# cache server's prefetches, which name the request).
KEPT_LINES = ("Retrieved", "Stored", "LMCache hit tokens", "Prefetch request completed")
CALL_COLUMNS = ["stack", "size", "repeat", "variant", "response_id", "ttft_ms", "prompt_tokens", "cached_tokens",
                "device_hit_tokens", "lmcache_hit_tokens", "started", "ended"]  # fmt: skip


def planned_sizes(default: int) -> list[int]:
    """``LMLAB_ACCOUNTING_SIZES`` as ascending token counts, or ``[default]`` when unset."""
    text = os.environ.get(SIZES_VAR, "").replace(" ", "")
    if not text:
        return [default]
    try:
        sizes = sorted({int(part) for part in text.split(",") if part})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise UserError(f"{SIZES_VAR}={text!r} is not a comma-separated list of manual sizes in tokens, e.g. 8000,16000,31000")
    return sizes


def planned_stacks() -> int:
    text = os.environ.get(STACKS_VAR, "2")
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"{STACKS_VAR}={text!r} is not a number of stacks, e.g. 2")
    return int(text)


def session_key(name: str) -> tuple[int, int, int]:
    """(stack, size, repeat) from a session name ``hit_accounting-s<stack>-<size>-r<repeat>[-suffix]``."""
    parts = name.split("-")
    return int(parts[1][1:]), int(parts[2]), int(parts[3][1:])


class HitAccounting(Scenario):
    name = "hit_accounting"
    description = "an LMCache hit split into fixed cost, KV load, compute over the cached context and the rest"
    default_expect = None
    stack_overrides = {"name": "accounting", "prefix_caching": True, "vllm_port": 8115, "lmcache_port": 5562, "lmcache_http_port": 8096}
    needs_launcher = True
    kv_from_earlier_sessions = True

    def __init__(self) -> None:
        self._out: Path | None = None
        self._log: Path | None = None
        self._startups: dict[int, float] = {}

    def sessions(self, opts: ScenarioOptions) -> list[Session]:
        sizes = planned_sizes(opts.manual_tokens or opts.context.manual_tokens)
        stack = opts.stack
        # LMCache runs inside vLLM on gpu and logs there; on cpu its own server logs.
        self._log = stack.log_dir / ("vllm.log" if stack.settings.gpu else "lmcache.log")
        sessions = []
        for s in range(planned_stacks()):
            for size in sorted(sizes):
                ctx = replace(opts.context, layout="manual_first", manual_tokens=size, truncate_manual=True)
                for r in range(opts.repeats):
                    q = questions_for(s * 7 + r, 4)
                    key = f"{self.name}-s{s}-{size}-r{r}"
                    first = s > 0 and size == min(sizes) and r == 0
                    sessions.append(Session(key, r, q[:3], VARIANTS, f"edition {opts.run_id}-{key}", ctx, client="bare",
                                            before=self._restarter(stack, s) if first else None))  # fmt: skip
                    sessions.append(Session(f"{key}-suffix", r, q[3:], ["suffix_only"], "", ctx, client="suffix"))
        return sessions

    def _restarter(self, stack, s: int):
        def restart() -> None:
            stack.down(quiet=True)
            start = time.monotonic()
            stack.up()
            self._startups[s] = round(time.monotonic() - start, 1)

        return restart

    def run(self, sessions: list[Session], run: "Run") -> None:
        self._out = run.writer.path.parent
        calls_csv = self._out / CALLS_CSV
        new = not calls_csv.exists()
        with calls_csv.open("a", newline="") as f, httpx.Client() as http:
            writer = csv.DictWriter(f, fieldnames=CALL_COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            for session in sessions:
                if session.before is not None:
                    session.before()
                stack_no, size, repeat = session_key(session.name)
                for row, extra in self._calls(http, session, run):
                    writer.writerow({**row, **extra, "stack": stack_no, "size": size, "repeat": repeat})
                    f.flush()

    def _calls(self, http: httpx.Client, session: Session, run: "Run"):
        """The bare client's calls, as ``experiments.bare.bare_calls`` makes them, keeping each call's
        response id and wall-clock window for the join with LMCache's log."""
        # Imported here: both import the scenario registry, which imports this module.
        from experiments.bare import bare_prompts
        from experiments.runner import result_row

        ctx = session.context
        ids = session.question_ids or list(range(len(session.questions)))
        for i, messages, prefix_tokens in bare_prompts(session):
            if session.variants[ids[i]] == "lmcache_hit":
                reset_prefix_cache(ctx.endpoint, ctx.api_key)
            before = scrape_metrics(ctx.endpoint, ctx.api_key)
            started = datetime.now()
            result = stream_chat(http, ctx.endpoint, ctx.model, messages, max_tokens=ctx.max_tokens,
                                 temperature=ctx.temperature, api_key=ctx.api_key, timeout=ctx.request_timeout_s)  # fmt: skip
            ended = datetime.now()
            after = scrape_metrics(ctx.endpoint, ctx.api_key)
            hits = hit_tokens(delta(parse_counters(before), parse_counters(after))) if before and after else None
            pending = {"question_id": i, "question": session.questions[i], **{k: v for k, v in result.items() if k != "response_id"}}
            layout = ctx.layout if session.client == "bare" else ""
            record = call_record(pending, hits, layout=layout, static_prefix_tokens=prefix_tokens)
            row = result_row(run.run_id, self.name, session, record)
            run.writer.write(row)
            run.on_call(row)
            yield row, {"response_id": result.get("response_id"), "started": started.isoformat(), "ended": ended.isoformat()}

    # ----- analysis: after the calls, from the run folder -----
    def comparison(self, df: pd.DataFrame) -> dict:
        if self._out is None or not (self._out / CALLS_CSV).is_file():
            return {}
        calls = pd.read_csv(self._out / CALLS_CSV)
        log_lines = self._log.read_text(errors="replace").splitlines() if self._log and self._log.is_file() else []
        kept = [ln for ln in log_lines if any(word in ln for word in KEPT_LINES)]
        (self._out / LOG_COPY).write_text("\n".join(kept) + ("\n" if kept else ""))
        return analyse(self._out, calls, kept, self._startups)

    def summary_lines(self, comparison: dict) -> list[str]:
        lines = []
        for size, per in sorted(comparison.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
            for s, split in sorted(per["stacks"].items()):
                parts = ", ".join(f"{p} {split[p]:.0f}" for p in PARTS)
                lines.append(f"{int(size):>6} tokens, stack {s}: hit {split['hit_ms']:.0f} ms = {parts} ms "
                             f"(rest {split['rest_share']:+.0%}{'' if split['adds_up'] else ', UNEXPLAINED'})")  # fmt: skip
            if per.get("hit_spread") is not None:
                lines.append(f"{int(size):>6} tokens: spread of the hit between stacks {per['hit_spread']:.1%}")
        return lines

    def check(self, comparison: dict, expect: float | None) -> str | None:
        if not comparison.get("sizes"):
            return "no LMCache hit could be accounted for (no calls, or no retrieve in LMCache's log)"
        for size, per in comparison["sizes"].items():
            for s, split in per["stacks"].items():
                if not split["device_hit_verified"]:
                    return f"{size} tokens, stack {s}: the device_hit calls were not served by vLLM's prefix cache, so compute is unknown"
                if not split["lmcache_hit_verified"]:
                    return f"{size} tokens, stack {s}: the lmcache_hit calls were not served by LMCache alone"
        return None


def analyse(out: Path, calls: pd.DataFrame, log_lines: list[str], startups: dict | None = None) -> dict:
    """Write accounting.json and the chart into ``out``; returns the figures."""
    figures = account(calls, parse_log(log_lines), startups)
    (out / "accounting.json").write_text(json.dumps(figures, indent=2) + "\n")
    from experiments.accounting_chart import draw_accounting  # matplotlib only when there is something to draw

    draw_accounting(figures, out)
    return figures


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.scenarios.hit_accounting RUN_DIR``: the analysis again, from the run
    folder's accounting-calls.csv and lmcache-requests.log (e.g. after changing the analysis)."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not (Path(argv[0]) / CALLS_CSV).is_file():
        print(f"error: give one hit_accounting run folder (it holds {CALLS_CSV} and {LOG_COPY})", file=sys.stderr)
        return 2
    out = Path(argv[0])
    previous = json.loads((out / "accounting.json").read_text()) if (out / "accounting.json").is_file() else {}
    startups = {int(k): v for k, v in previous.get("startup_s", {}).items()}
    figures = analyse(out, pd.read_csv(out / CALLS_CSV), (out / LOG_COPY).read_text().splitlines(), startups)
    print(json.dumps(figures, indent=2))
    return 0


def account(calls: pd.DataFrame, events, startups: dict | None = None) -> dict:
    """Per size and stack, the split of the median LMCache hit, plus the spread between stacks."""
    calls = calls.copy()
    calls["kv_load_ms"] = [
        kv_load_ms(events, rid if isinstance(rid, str) else None, datetime.fromisoformat(a), datetime.fromisoformat(b))
        if v == "lmcache_hit" else None
        for rid, a, b, v in zip(calls["response_id"], calls["started"], calls["ended"], calls["variant"], strict=True)
    ]  # fmt: skip
    out: dict = {"adds_up_within": ADDS_UP_WITHIN, "startup_s": {str(k): v for k, v in (startups or {}).items()}, "sizes": {}}
    for size, by_size in calls.groupby("size"):
        per: dict = {"stacks": {}}
        for s, g in by_size.groupby("stack"):
            v = {name: g[g["variant"] == name] for name in ("cold", "device_hit", "lmcache_hit", "suffix_only")}
            loads = v["lmcache_hit"]["kv_load_ms"].dropna().tolist()
            if v["lmcache_hit"].empty or v["device_hit"].empty or v["suffix_only"].empty or not loads:
                continue
            split = split_hit(v["lmcache_hit"]["ttft_ms"].tolist(), loads, v["device_hit"]["ttft_ms"].tolist(), v["suffix_only"]["ttft_ms"].tolist())
            per["stacks"][str(s)] = {
                **split.as_dict(),
                "cold_ms": round(float(v["cold"]["ttft_ms"].median()), 1),
                "prompt_tokens": int(v["lmcache_hit"]["prompt_tokens"].median()),
                "calls": int(len(v["lmcache_hit"])),
                "kv_loads_joined": len(loads),
                "lmcache_hit_by_repeat_ms": v["lmcache_hit"]["ttft_ms"].round(1).tolist(),
                "kv_load_by_repeat_ms": [round(x, 1) for x in loads],
                "device_hit_by_repeat_ms": v["device_hit"]["ttft_ms"].round(1).tolist(),
                "device_hit_verified": bool((v["device_hit"]["device_hit_tokens"].fillna(0) > 0).all()),
                "lmcache_hit_verified": bool((v["lmcache_hit"]["device_hit_tokens"].fillna(0) == 0).all()
                                             and (v["lmcache_hit"]["lmcache_hit_tokens"].fillna(0) > 0).all()),
            }  # fmt: skip
        if not per["stacks"]:
            continue
        stacks = per["stacks"].values()
        per["hit_spread"] = spread([x["hit_ms"] for x in stacks])
        per["part_spread"] = {p: spread([x[p] for x in stacks]) for p in ("fixed", "kv_load", "compute")}
        out["sizes"][str(int(size))] = per
    return out


if __name__ == "__main__":
    raise SystemExit(main())
