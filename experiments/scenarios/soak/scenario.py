"""Soak: several sessions at once for a fixed time, while the stack's resources are sampled.

The scenario runs its own stack (name ``soak``, its own ports), started fresh so the figures begin
from fresh processes (one an earlier run left running is restarted). Batch after batch,
``--concurrency`` sessions of ``--questions`` questions run at once, each batch on a fresh manual
edition (its first calls are cold, the rest hits), until ``--duration`` seconds have passed. Every ``SAMPLE_EVERY_S`` seconds ``samples.csv``
gets each server's RSS and open file descriptors (with its child processes), the LMCache disk
tier's size and /dev/shm usage. At the end the stack is stopped and whatever it left behind
(state file, processes, /dev/shm files) is listed.

Pass marks (exit 1 when missed): no failed session; each server's private memory (USS) over the
last tenth of the run within 10% of its figure after warm-up (the tenth after the first quarter,
which fills vLLM's KV memory and LMCache's L1); hit TTFT p95 over the last tenth within 20% of the
one after warm-up; the disk tier within its bound, where the stack sets one; nothing
left behind after ``down``. A drift mark is judged only on at least ``MIN_SAMPLES_PER_WINDOW`` samples
(resource samples, or hit calls) in each of its two windows: below that it says "too few samples"
with the figure and passes (a 120 s soak once failed on a p95 of five hits in its last 12 s).
"""

import math
import time
from dataclasses import dataclass

import pandas as pd
import psutil

from experiments.run.plan import Plan, question_session
from experiments.run.stacks import Stacks
from experiments.scenarios.soak.chart import soak_over_time
from experiments.scenarios.base import Scenario, ScenarioOptions
from metrics.resources import SHM, Sampler
from serving import shm

SAMPLE_EVERY_S = 5.0
RSS_DRIFT_MAX = 0.10
HIT_P95_DRIFT_MAX = 0.20
SAMPLES_CSV = "samples.csv"
# Fewest resource samples, or hit calls, in each window (after warm-up, last tenth) for a drift mark to
# be judged: a p95 of fewer is its one or two slowest calls. An hour's last tenth holds 72 samples (one
# every 5 s) and hundreds of hits; the default 60 s holds one or two samples.
MIN_SAMPLES_PER_WINDOW = 10


WARM_UP = 0.25  # the first quarter fills vLLM's KV memory and LMCache's L1; figures start after it


def tenths(t: pd.Series, warm_up: float = WARM_UP) -> tuple[pd.Series, pd.Series]:
    """Masks of the tenth of a run's time span right after warm-up, and of its last tenth. Each holds
    at least one point: when samples are sparse (a short run, a loaded machine) the tenth after
    warm-up may fall between two of them, and then it is the first point after warm-up."""
    start, span = t.min(), t.max() - t.min()
    begin = start + warm_up * span
    first = (t >= begin) & (t <= begin + span / 10)
    if not first.any():
        first = t == t[t >= begin].min()
    return first, t >= start + 9 * span / 10


def drift(first: pd.Series, last: pd.Series, how: str = "median") -> float | None:
    """last / first - 1 of the two windows' medians (or 95th percentiles)."""
    a, b = (first.median(), last.median()) if how == "median" else (first.quantile(0.95), last.quantile(0.95))
    return None if pd.isna(a) or pd.isna(b) or not a else round(float(b / a - 1), 4)


def shm_names(made_before: float | None = None) -> set[str]:
    """The files in /dev/shm; with ``made_before`` (epoch seconds), those last changed before it."""
    return {p.name for p in SHM.iterdir() if made_before is None or p.stat().st_ctime < made_before}


@dataclass(frozen=True)
class SoakPlan(Plan):
    """The batches, the run's length and its stack. ``observed``: when the clock started (after the
    stack's fresh start), the servers sampled, the samples, and what the stack left behind after ``down``."""

    duration_s: float
    disk_bound_mib: float | None
    stacks: Stacks | None


class Soak(Scenario):
    name = "soak"
    pinned_context = {"layout": "manual_first", "metrics_per_call": False}  # concurrent calls would mix per-call /metrics deltas
    charts = ((soak_over_time, "Soak: resources and TTFT over time"),)
    description = "sessions at once for a fixed time: memory, open files, disk tier, /dev/shm and TTFT stay flat"
    default_concurrency = 4
    needs_launcher = True
    timed = True
    min_questions = 2
    # A bounded disk tier (LMLAB_DISK_GIB overrides it): a fresh edition per batch fills 1 GiB in about a dozen
    # batches, so an hour's soak runs mostly at the bound and its disk mark judges eviction, not an empty folder.
    own_stack = {"name": "soak", "disk_gib": 1.0}

    def sessions(self, opts: ScenarioOptions) -> SoakPlan:
        # Enough batches for the duration at any pace seen here (a batch takes at least a few seconds);
        # run() stops starting new ones when the time is up.
        duration_s = opts.duration_s or 60
        ctx = self.pin(opts.context)
        batches = max(1, math.ceil(duration_s / 2))
        bound = opts.stacks.settings.disk_gib if opts.stacks else None
        sessions = [
            question_session(f"{self.name}-b{b}-s{c}", b, opts.questions, f"edition {opts.run_id}-{b}", ctx, pool=opts.question_pool)
            for b in range(batches)
            for c in range(self.concurrency)
        ]
        return SoakPlan(sessions, duration_s, bound * 1024 if bound else None, opts.stacks)

    # It plans more calls than it will make: its progress is time, not calls.
    def planned(self, plan: SoakPlan, calls: int) -> str:
        return f"as many calls as {plan.duration_s:.0f} s allow"

    def progress(self, plan: SoakPlan, done: int, calls: int) -> str:
        started = plan.observed.get("clock_started")
        elapsed = time.monotonic() - started if started else 0
        return f"{done}, {elapsed:.0f}/{plan.duration_s:.0f} s"

    def run(self, plan: SoakPlan, executor) -> None:
        stacks, seen = plan.stacks, plan.observed
        stack = stacks.own
        if stacks.started:  # by this run, a moment ago: its processes are fresh
            started = min(psutil.Process(row["pid"]).create_time() for row in stack.status())
            before = shm_names(made_before=started)
        else:  # left running by an earlier run: restarted, so the figures begin from fresh processes
            stacks.stop()
            before = shm_names()
            stacks.use(stack.settings)
        servers = {row["service"]: row["pid"] for row in stack.status()}
        out = executor.writer.path.parent
        seen["clock_started"] = time.monotonic()
        deadline = seen["clock_started"] + plan.duration_s
        with Sampler(servers, stack.settings.disk_path, out / SAMPLES_CSV, SAMPLE_EVERY_S):
            for b in range(0, len(plan), self.concurrency):
                if time.monotonic() >= deadline:
                    break
                executor.concurrently(plan[b : b + self.concurrency], self.concurrency)
        seen["samples"] = pd.read_csv(out / SAMPLES_CSV)
        seen["servers"] = list(servers)
        pids = [row["pid"] for row in stack.status()]
        stacks.stop()
        seen["left_behind"] = self._left_behind(stack, before, pids)

    @staticmethod
    def _left_behind(stack, before: set[str], pids: list[int]) -> list[str]:
        left = [f"process {pid}" for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if stack.state_file.exists():
            left.append(str(stack.state_file))
        new = [SHM / name for name in sorted(shm_names() - before)]
        in_use = shm.references()  # by inode: a live process's file is not a leftover, whoever made it
        left += [str(path) for path in new if path.exists() and path.stat().st_ino not in in_use]
        return left

    def comparison(self, df: pd.DataFrame, plan: SoakPlan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        seen = plan.observed if plan is not None else {}
        out: dict = {"calls": len(rows), "duration_s": plan.duration_s if plan is not None else None}
        samples = seen.get("samples")
        if samples is not None and len(samples) >= 2:
            first, last = tenths(samples["t"])
            out["samples"] = len(samples)
            out["samples_per_window"] = [int(first.sum()), int(last.sum())]
            out["rss_drift"] = {s: drift(samples.loc[first, f"{s}_rss_mib"], samples.loc[last, f"{s}_rss_mib"]) for s in seen["servers"]}
            out["fds_first_last"] = {s: [int(samples.loc[first, f"{s}_fds"].median()), int(samples.loc[last, f"{s}_fds"].median())]
                                     for s in seen["servers"]}  # fmt: skip
            disk = samples["disk_mib"].dropna()
            out["disk_mib_first_last"] = [round(float(disk.iloc[0]), 1), round(float(disk.iloc[-1]), 1)] if len(disk) else None
            out["shm_used_mib_first_last"] = [float(samples["shm_used_mib"].iloc[0]), float(samples["shm_used_mib"].iloc[-1])]
        hits = rows[rows["variant"] == "hit"]
        if len(hits) >= 2:
            end = hits["started_at"] + hits["total_ms"] / 1000
            first, last = tenths(end)
            out["hits_per_window"] = [int(first.sum()), int(last.sum())]
            out["hit_ttft_p95_first_last_ms"] = [round(float(hits.loc[first, "ttft_ms"].quantile(0.95)), 1),
                                                 round(float(hits.loc[last, "ttft_ms"].quantile(0.95)), 1)]  # fmt: skip
            out["hit_p95_drift"] = drift(hits.loc[first, "ttft_ms"], hits.loc[last, "ttft_ms"], how="p95")
        out["disk_bound_mib"] = plan.disk_bound_mib if plan is not None else None
        out["left_behind"] = seen.get("left_behind")
        return out

    def summary_lines(self, c: dict) -> list[str]:
        if "rss_drift" not in c:
            return [f"{c['calls']} calls; too few samples to judge the resources (run longer: --duration)"]
        rss = ", ".join(f"{s} {d:+.1%}" for s, d in c["rss_drift"].items() if d is not None)
        hit = c.get("hit_p95_drift")
        return [
            f"{c['calls']} calls in {c['duration_s']:.0f} s; private memory, last tenth vs after warm-up: [bold]{rss}[/]"
            f"{too_few_note(c.get('samples_per_window'), 'resource samples')}",
            f"hit TTFT p95 after warm-up -> last tenth: {span(c.get('hit_ttft_p95_first_last_ms'))} ms ({'-' if hit is None else f'{hit:+.1%}'})"
            f"{too_few_note(c.get('hits_per_window'), 'hits')}",
            f"disk tier {span(c.get('disk_mib_first_last'))} MiB; /dev/shm {span(c.get('shm_used_mib_first_last'))} MiB; "
            f"left behind after down: {len(c.get('left_behind') or [])}",
        ]

    def check(self, c: dict, expect: float | None) -> str | None:
        problems = []
        if enough(c.get("samples_per_window")):
            for server, d in (c.get("rss_drift") or {}).items():
                if d is not None and abs(d) > RSS_DRIFT_MAX:
                    problems.append(f"{server} private memory moved {d:+.1%} from after warm-up to the last tenth (allowed {RSS_DRIFT_MAX:.0%})")
        hit = c.get("hit_p95_drift")
        if enough(c.get("hits_per_window")) and hit is not None and hit > HIT_P95_DRIFT_MAX:
            problems.append(f"hit TTFT p95 grew {hit:+.1%} from after warm-up to the last tenth (allowed {HIT_P95_DRIFT_MAX:.0%})")
        disk, bound = c.get("disk_mib_first_last"), c.get("disk_bound_mib")
        if disk and bound and disk[1] > bound:
            problems.append(f"the disk tier holds {disk[1]:.0f} MiB, above its bound of {bound:.0f} MiB")
        if c.get("left_behind"):
            problems.append(f"left behind after down: {', '.join(c['left_behind'][:5])}")
        return "; ".join(problems) or None


def span(first_last: list[float] | None) -> str:
    """``[a, b]`` as ``a -> b``."""
    return " -> ".join(f"{v:,.1f}" for v in first_last) if first_last else "-"


def enough(per_window: list[int] | None) -> bool:
    """Whether both windows hold the samples a drift mark needs."""
    return bool(per_window) and min(per_window) >= MIN_SAMPLES_PER_WINDOW


def too_few_note(per_window: list[int] | None, what: str) -> str:
    """What a summary line adds when its drift is not judged: the windows' counts and the minimum."""
    if enough(per_window):
        return ""
    counts = " and ".join(map(str, per_window or [0, 0]))
    return f" [yellow]too few samples[/]: {counts} {what} in the two windows, {MIN_SAMPLES_PER_WINDOW} needed in each; not judged"
