"""Hit accounting: where an LMCache hit's TTFT goes, per manual size, on freshly started stacks.

Per stack, size and repeat, on a fresh manual edition, one call at a time with the bare client:
1. ``cold``: the first question (recompute; LMCache and vLLM's prefix cache store the KV);
2. ``device_hit``: another question, served by vLLM's own prefix cache: the question's compute over
   the cached context, with no KV to load;
3. vLLM's prefix cache is emptied (``/reset_prefix_cache``), then ``lmcache_hit``: a third question,
   whose prefix LMCache loads back from its CPU tier: the hit being accounted for;
4. ``suffix_only``: a fourth question alone, without the manual: the request's fixed cost.
LMCache's log is then read for the retrieve time of each ``lmcache_hit`` call (joined on its response
id, see ``experiments.scenarios.hit_accounting.accounting``) and the hit is split into fixed cost, KV load, compute and
the rest. The scenario restarts its stack between stacks, so each stack starts fresh, and reports
how far the stacks differ.

Sizes: ``LMLAB_ACCOUNTING_SIZES`` (comma-separated manual tokens; default: ``--manual-tokens`` or the
profile's manual budget). Stacks: ``LMLAB_ACCOUNTING_STACKS`` (default 2). It runs its own stack
(name ``accounting``) with vLLM's prefix cache on, on both profiles.
Writes ``accounting.json``, ``lmcache-requests.log`` (the LMCache lines the join read) and
``hit_accounting.png`` (a stacked bar per size and stack) into the run folder;
``python -m experiments.accounting_report RUN_DIR`` does the analysis again from those files.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from experiments.scenarios.hit_accounting.report import LOG_COPY, analyse, calls_table, keep_lines
from experiments.run.clients import BARE, SUFFIX
from experiments.scenarios.hit_accounting.accounting import PARTS
from experiments.run.plan import Plan, Session, questions_for
from experiments.scenarios.base import Scenario, ScenarioOptions
from lab.errors import UserError

if TYPE_CHECKING:
    from experiments.run.executor import Executor

SIZES_VAR = "LMLAB_ACCOUNTING_SIZES"
STACKS_VAR = "LMLAB_ACCOUNTING_STACKS"


def parse_sizes(text: str) -> tuple[int, ...]:
    """``LMLAB_ACCOUNTING_SIZES`` as ascending token counts, or a one-line error naming the variable."""
    text = text.replace(" ", "")
    try:
        sizes = sorted({int(part) for part in text.split(",") if part})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise UserError(
            f"{SIZES_VAR}={text!r} is not a comma-separated list of manual sizes in tokens, e.g. 8000,16000,31000"
        )
    return tuple(sizes)


def parse_stacks(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"{STACKS_VAR}={text!r} is not a number of stacks, e.g. 2")
    return int(text)


@dataclass(frozen=True, kw_only=True)
class AccountingParams:
    """The hit accounting's own knobs (``lab.settings.resolve_params``)."""

    accounting_sizes: tuple[int, ...] = field(
        default=(),
        metadata={"description": "hit_accounting: manual sizes in tokens, comma-separated. Empty: the run's manual budget.",
                  "parse": parse_sizes},
    )  # fmt: skip
    accounting_stacks: int = field(
        default=2,
        metadata={"description": "hit_accounting: freshly started stacks to measure on, one after the other.", "parse": parse_stacks},
    )


def planned_sizes(params: AccountingParams, default: int) -> list[int]:
    """The sizes to account for, ascending: ``LMLAB_ACCOUNTING_SIZES``, or ``[default]`` when unset."""
    return list(params.accounting_sizes) or [default]


@dataclass(frozen=True)
class AccountingPlan(Plan):
    """The sessions, and where the stack's LMCache logs its retrieves. ``observed["startups"]``: each
    restarted stack's start-up time (s), by stack index."""

    log: Path


class HitAccounting(Scenario):
    name = "hit_accounting"
    pinned_context = {"layout": "manual_first", "truncate_manual": True}  # it cuts the manual to its own sizes
    description = "an LMCache hit split into fixed cost, KV load, compute over the cached context and the rest"
    default_expect = None
    own_stack = {"name": "accounting", "prefix_caching": True}
    params_class = AccountingParams
    needs_launcher = True
    kv_from_earlier_sessions = True

    def sessions(self, opts: ScenarioOptions) -> AccountingPlan:
        sizes = planned_sizes(opts.params, opts.manual.tokens)
        stacks = opts.stacks
        # LMCache runs inside vLLM on gpu and logs there; on cpu its own server logs.
        log = stacks.own.log_dir / ("vllm.log" if stacks.settings.gpu else "lmcache.log")
        reset = lambda: opts.context.server.reset_prefix_cache()
        startups: dict[int, float] = {}
        sessions = []
        for s in range(opts.params.accounting_stacks):
            for size in sizes:
                ctx = replace(self.pin(opts.context), manual_tokens=size)
                for r in range(opts.repeats):
                    q = questions_for(s * 7 + r, 4, opts.question_pool)
                    key, edition = f"{self.name}-s{s}-{size}-r{r}", f"edition {opts.run_id}-s{s}-{size}-r{r}"
                    first = s > 0 and size == sizes[0] and r == 0
                    sessions += [
                        Session(key, r, q[:2], ["cold", "device_hit"], edition, ctx, client=BARE,
                                before=self._restarter(stacks, startups, s) if first else None),
                        Session(f"{key}-lmcache", r, q[2:3], ["lmcache_hit"], edition, ctx, client=BARE, before=reset),
                        Session(f"{key}-suffix", r, q[3:], ["suffix_only"], "", ctx, client=SUFFIX),
                    ]  # fmt: skip
        return AccountingPlan(sessions, log, observed={"startups": startups})

    @staticmethod
    def _restarter(stacks, startups: dict[int, float], s: int):
        def restart() -> None:
            startups[s] = stacks.restart()

        return restart

    def run(self, plan: AccountingPlan, executor: "Executor") -> None:
        plan.observed["out"] = executor.writer.path.parent
        super().run(plan, executor)

    def comparison(self, df: pd.DataFrame, plan: AccountingPlan | None = None) -> dict:
        out = plan.observed.get("out") if plan is not None else None
        if out is None:
            return {}
        lines = plan.log.read_text(errors="replace").splitlines() if plan.log.is_file() else []
        kept = keep_lines(lines)
        (out / LOG_COPY).write_text("\n".join(kept) + ("\n" if kept else ""))
        return analyse(out, calls_table(df[df["scenario"] == self.name]), kept, plan.observed["startups"])

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
