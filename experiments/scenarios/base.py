"""What a scenario is: a list of sessions to run, how to run them, and how to judge their results."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from graphs.context import Context
from prompts.templates import DEFAULT_QUESTIONS

if TYPE_CHECKING:
    from experiments.runner import Run


@dataclass
class ScenarioOptions:
    """What the command line hands every scenario."""

    run_id: str
    questions: int
    repeats: int
    context: Context
    # --manual-tokens as given on the command line (None: not given), for scenarios that vary the size.
    manual_tokens: int | None = None


@dataclass
class Session:
    """Questions asked in order over one manual edition, each labelled with a variant.

    ``client`` says who makes the calls: ``graph`` (the QA graph, the normal path), ``bare`` (a bare
    streaming HTTP client, same messages) or ``suffix`` (bare, the question without the manual)."""

    name: str
    repeat: int
    questions: list[str]
    variants: list[str]
    edition: str
    context: Context
    client: str = "graph"


class Scenario:
    name: str = ""
    description: str = ""
    # Default for --expect-reduction: exit code 1 when the measured reduction is below it.
    default_expect: float | None = None
    # Fewest --questions that make sense: cold/hit scenarios need one cold call and one hit.
    min_questions: int = 1

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
