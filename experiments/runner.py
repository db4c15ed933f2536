"""Run a scenario's sessions and append every call to results.csv as it lands.

A session's ``client`` picks the path: ``graph`` streams the QA graph (the normal path); ``bare``
and ``suffix`` go around it (``experiments.bare``). Every path writes the same results.csv columns.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from experiments.bare import bare_calls
from experiments.results import ResultsWriter
from experiments.scenarios import Scenario, Session
from graphs.graph import graph


def result_row(run_id: str, scenario: str, session: Session, call: dict) -> dict:
    return {
        "run_id": run_id,
        "scenario": scenario,
        "variant": session.variants[call["question_id"]],
        "repeat": session.repeat,
        "session": session.name,
        **call,
    }


def graph_calls(session: Session, scenario: str) -> Iterator[dict]:
    """Stream one graph run, yielding each finished call: each ``collect_cache_stats`` update carries one.
    The graph waits between calls until the next one is asked for."""
    inputs = {"questions": session.questions, "manual_edition": session.edition}
    config = {"run_name": session.name, "metadata": {"scenario": scenario, "session": session.name}}
    for update in graph.stream(inputs, config=config, context=session.context, stream_mode="updates"):
        yield from (update.get("collect_cache_stats") or {}).get("calls", [])


@dataclass
class Run:
    """One run of a scenario: where its rows go. Every finished call becomes a results.csv row and
    is handed to ``on_call``."""

    run_id: str
    scenario: Scenario
    writer: ResultsWriter
    on_call: Callable[[dict], None]

    def calls(self, session: Session) -> Iterator[dict]:
        """The session's calls, made one per step through its client: each step makes one call,
        writes its row and yields it. Scenarios interleave sessions call by call with this."""
        if session.client == "graph":
            calls = graph_calls(session, self.scenario.name)
        elif session.client in ("bare", "suffix"):
            calls = bare_calls(session)
        else:
            raise ValueError(f"session {session.name}: unknown client {session.client!r}")
        for call in calls:
            row = result_row(self.run_id, self.scenario.name, session, call)
            self.writer.write(row)
            self.on_call(row)
            yield row

    def session(self, session: Session) -> None:
        """Make all the session's calls."""
        for _ in self.calls(session):
            pass
