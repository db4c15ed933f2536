"""What a scenario is: a list of graph sessions to run, and how to judge their results."""

from dataclasses import dataclass

import pandas as pd

from graphs.context import Context
from prompts.templates import DEFAULT_QUESTIONS


@dataclass
class ScenarioOptions:
    """What the command line hands every scenario."""

    run_id: str
    questions: int
    repeats: int
    context: Context


@dataclass
class Session:
    """One graph run: questions asked in order over one manual edition, each labelled with a variant."""

    name: str
    repeat: int
    questions: list[str]
    variants: list[str]
    edition: str
    context: Context


class Scenario:
    name: str = ""
    description: str = ""
    # Default for --expect-reduction: exit code 1 when the measured reduction is below it.
    default_expect: float | None = None

    def sessions(self, opts: ScenarioOptions) -> list[Session]:
        raise NotImplementedError

    def comparison(self, df: pd.DataFrame) -> dict:
        """Scenario-specific figures for summary.json and the printed table."""
        return {}

    def report_rows(self, comparison: dict) -> list[dict]:
        """Extra rows to print after the per-variant table (column name -> cell), if any."""
        return []

    def check(self, comparison: dict, expect: float | None) -> str | None:
        """A one-line failure when the run misses its expectation, else None."""
        return None


def questions_for(repeat: int, count: int) -> list[str]:
    """``count`` different questions, rotated per repeat so each repeat opens with another one."""
    qs = DEFAULT_QUESTIONS
    return [qs[(repeat + i) % len(qs)] for i in range(count)]
