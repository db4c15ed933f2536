"""What a scenario is: it plans sessions and judges their results; the executor runs them.

A scenario is created per run (``experiments.scenarios.create``), so nothing a run sets survives it;
what it plans is the ``Plan`` its ``sessions`` returns, which its ``run`` and ``comparison`` receive.
"""

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pandas as pd

from experiments.run.plan import Plan
from experiments.run.stacks import Stacks
from graphs.context import Context
from prompts.questions import BUILT_IN, Question
from serving.settings import SCENARIO_PORTS

if TYPE_CHECKING:
    from experiments.run.executor import Executor


@dataclass(frozen=True)
class ManualBudget:
    """The run's manual budget in tokens (the Context's ``manual_tokens``), and whether the user gave
    it (``--manual-tokens``): scenarios that choose their own sizes take it only then."""

    tokens: int
    given: bool = False


@dataclass(frozen=True)
class ScenarioOptions:
    """What the run spec hands every scenario."""

    run_id: str
    questions: int
    repeats: int
    context: Context
    # The run's local stacks (its own, and any it switches to); None with --endpoint.
    stacks: Stacks | None = None
    # The scenario's own parameters (its ``params_class``), as the run spec resolved them; None: it has none.
    params: object | None = None
    # None: the Context's budget, not given by the user.
    manual: ManualBudget | None = None
    # --duration, for scenarios that run for a fixed time (soak).
    duration_s: float | None = None
    # The questions sessions take theirs from (``plan.questions_for``): the built-in ones, or the user's own.
    question_pool: tuple[Question, ...] = BUILT_IN

    def __post_init__(self) -> None:
        if self.manual is None:
            object.__setattr__(self, "manual", ManualBudget(self.context.manual_tokens))


class Scenario:
    name: str = ""
    description: str = ""
    # Default for --expect-reduction: exit code 1 when the measured reduction is below it.
    default_expect: float | None = None
    # StackSettings fields this scenario's own local stack needs (a stack name of its own; its ports
    # come from serving.settings.SCENARIO_PORTS under that name); None runs on the default stack.
    own_stack: dict | None = None
    # The scenario's own knobs: a frozen dataclass of fields with descriptions, each read from its
    # LMLAB_* variable by the run spec (lab.settings.resolve_params), saved in run.json; None: none.
    params_class: type | None = None
    # Sessions run at once (threads); above 1, per-call /metrics deltas would mix calls, so the
    # scenario's contexts turn metrics_per_call off.
    default_concurrency: int = 1
    # True when the scenario must control the servers (restart, reset), so --endpoint cannot be used.
    needs_launcher: bool = False
    # Fewest --questions that make sense: cold/hit scenarios need one cold call and one hit.
    min_questions: int = 1
    # Fewest LLM calls per question (the agent graph makes three), for the progress count.
    calls_per_question: int = 1
    # True when the scenario runs for a fixed time (--duration) rather than a fixed number of repeats.
    timed: bool = False
    # Sessions that hit KV an earlier session made (tiers, sharing): the graph predicts from the
    # session's own prompts, so its prediction is off by design and is not flagged on screen.
    kv_from_earlier_sessions: bool = False
    # ``make bench``'s full-size arguments (RunArgs fields); None: not part of the benchmarks.
    bench_args: dict | None = None
    # The variant the others are measured against (experiments.compare, LangFuse experiment runs);
    # None: the run's first variant.
    baseline: str | None = None
    # The scenario's own charts, (draw(df, out) -> file name or None, title), drawn after the
    # charts every run gets (experiments.analysis.charts).
    charts: tuple = ()
    # Context fields this scenario sets whatever the run resolved (its measurement depends on them):
    # the run names each one a user set otherwise (experiments.run.overrides), so none is dropped silently.
    pinned_context: dict = {}
    # Context fields it sets per session itself (each layout, say): a value the user set is named as unused.
    varied_context: tuple = ()

    def __init__(self, concurrency: int | None = None):
        self.concurrency = concurrency or self.default_concurrency

    @classmethod
    def stack_overrides(cls, params, profile: str) -> dict | None:
        """The StackSettings fields of this scenario's own stack, from its resolved ``params`` and the
        profile, when the run spec is built; None: the default stack."""
        if cls.own_stack is None:
            return None
        return {**cls.own_stack, **SCENARIO_PORTS[cls.own_stack["name"]]}

    def pin(self, context: Context) -> Context:
        """``context`` with this scenario's ``pinned_context``."""
        return replace(context, **self.pinned_context)

    def sessions(self, opts: ScenarioOptions) -> Plan:
        raise NotImplementedError

    def planned(self, plan: Plan, calls: int) -> str:
        """What the run's header says it will make."""
        return f"{calls} calls"

    def progress(self, plan: Plan, done: int, calls: int) -> str:
        """How far the run is, on each call's progress line."""
        return f"{done}/{calls}"

    def run(self, plan: Plan, executor: "Executor") -> None:
        """Make the plan's calls; the executor writes each finished call to results.csv.

        The default runs the sessions in order. Override it to do something between sessions
        (restart a server, reset a cache, interleave, run several at once)."""
        for session in plan:
            executor.session(session)

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        """Scenario-specific figures for summary.json and the printed table (``plan``: what the run
        planned; the scenarios that judge from results.csv alone need none)."""
        return {}

    def report_rows(self, comparison: dict) -> list[dict]:
        """Extra rows to print after the per-variant table (column name -> cell), if any."""
        return []

    def summary_lines(self, comparison: dict) -> list[str]:
        """The scenario's headline figures, in rich markup: printed under the per-variant table and
        written into report.md."""
        return []

    def printed(self, comparison: dict) -> dict:
        """The comparison's figures printed one per line after the tables (all of them, unless the
        scenario's own tables and lines already say it)."""
        return comparison

    def check(self, comparison: dict, expect: float | None) -> str | None:
        """A one-line failure when the run misses its expectation, else None."""
        return None
