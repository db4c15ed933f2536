"""What a scenario is: a list of sessions to run, how to run them, and how to judge their results."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd

from graphs.context import Context
from prompts.templates import DEFAULT_QUESTIONS
from serving.launcher import Stack

if TYPE_CHECKING:
    from experiments.runner import Run


@dataclass
class ScenarioOptions:
    """What the command line hands every scenario."""

    run_id: str
    questions: int
    repeats: int
    context: Context
    # The launcher-managed stack behind context.endpoint; None with --endpoint.
    stack: Stack | None = None
    # --manual-tokens as given on the command line (None: not given), for scenarios that vary the size.
    manual_tokens: int | None = None


@dataclass
class Session:
    """Questions asked in order over one manual edition, each labelled with a variant.

    ``client`` says who makes the calls: ``graph`` (the QA graph, the normal path), ``agent`` (the
    agent graph: several calls per question), ``bare`` (a bare
    streaming HTTP client, same messages) or ``suffix`` (bare, the question without the manual)."""

    name: str
    repeat: int
    questions: list[str]
    variants: list[str]
    edition: str
    context: Context
    client: str = "graph"
    # Runs just before the session: reset a cache, restart servers, wait for a tier to fill.
    before: Callable[[], None] | None = field(default=None, repr=False)
    # Which of the planned questions this run asks (all when None); a resumed run asks only the missing ones.
    question_ids: list[int] | None = None

    def remaining(self, done: set[tuple[str, int]]) -> "Session | None":
        """This session without the questions already in results.csv, or None when nothing is left."""
        ids = [i for i in range(len(self.questions)) if (self.name, i) not in done]
        if not ids:
            return None
        return replace(self, questions=[self.questions[i] for i in ids], question_ids=ids)


class Scenario:
    name: str = ""
    description: str = ""
    # Default for --expect-reduction: exit code 1 when the measured reduction is below it.
    default_expect: float | None = None
    # StackSettings fields this scenario's own local stack needs (a stack name and ports of its own,
    # so it never disturbs the default stack); None runs on the default stack.
    stack_overrides: dict | None = None
    # Sessions run at once (threads); above 1, per-call /metrics deltas would mix calls, so the
    # scenario's contexts should turn metrics_per_call off.
    concurrency: int = 1
    # True when the scenario must control the servers (restart, reset), so --endpoint cannot be used.
    needs_launcher: bool = False
    # Fewest --questions that make sense: cold/hit scenarios need one cold call and one hit.
    min_questions: int = 1
    # Fewest LLM calls per question (the agent graph makes three), for the progress count.
    calls_per_question: int = 1
    # Sessions that hit KV an earlier session made (tiers, sharing): the graph predicts from the
    # session's own prompts, so its prediction is off by design and is not flagged on screen.
    kv_from_earlier_sessions: bool = False

    def sessions(self, opts: ScenarioOptions) -> list[Session]:
        raise NotImplementedError

    def run(self, sessions: list[Session], run: "Run") -> None:
        """Make the sessions' calls in order; ``run`` writes each finished call to results.csv.

        The default runs the sessions in order, each through its ``client``. Override it to do
        something between sessions (restart a server, reset a cache, ...)."""
        for session in sessions:
            run.session(session)

    def comparison(self, df: pd.DataFrame) -> dict:
        """Scenario-specific figures for summary.json and the printed table."""
        return {}

    def report_rows(self, comparison: dict) -> list[dict]:
        """Extra rows to print after the per-variant table (column name -> cell), if any."""
        return []

    def summary_lines(self, comparison: dict) -> list[str]:
        """Lines printed under the per-variant table: the scenario's headline figures."""
        return []

    def check(self, comparison: dict, expect: float | None) -> str | None:
        """A one-line failure when the run misses its expectation, else None."""
        return None


def questions_for(repeat: int, count: int) -> list[str]:
    """``count`` different questions, rotated per repeat so each repeat opens with another one."""
    qs = DEFAULT_QUESTIONS
    return [qs[(repeat + i) % len(qs)] for i in range(count)]
