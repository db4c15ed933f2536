"""Run a scenario's sessions and append every call to results.csv as it lands.

A session's ``client`` picks the path: ``graph`` streams the QA graph (the normal path), ``agent``
the agent graph; ``bare`` and ``suffix`` go around it (``experiments.bare``). Every path writes the same results.csv columns.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from experiments.bare import bare_calls
from experiments.results import ResultsWriter
from experiments.scenarios import Scenario, Session
from graphs.agent import graph as agent_graph
from graphs.graph import graph
from metrics.records import CallRecord
from observability.tracing import Tracing


def planned_ids(session: Session) -> list[int]:
    """The planned question id of each question this session asks (a resumed session skips some)."""
    return session.question_ids or list(range(len(session.questions)))


def result_row(run_id: str, scenario: str, session: Session, call: CallRecord) -> CallRecord:
    planned_id = planned_ids(session)[call.question_id]
    return replace(call, run_id=run_id, scenario=scenario, variant=session.variants[planned_id], repeat=session.repeat,
                   session=session.name, question_id=planned_id)  # fmt: skip


def graph_calls(session: Session, scenario: str, tracing: Tracing | None = None, compiled=graph) -> Iterator[CallRecord]:
    """Stream one graph run, yielding each finished call: whichever node records a call returns it in ``calls``.
    The graph waits between calls until the next one is asked for. The run metadata names the
    scenario and each question's variant, for the graph's traces."""
    inputs = {"questions": session.questions, "manual_edition": session.edition}
    variants = [session.variants[i] for i in planned_ids(session)]
    config = {"run_name": session.name, "metadata": {"scenario": scenario, "session": session.name, "variants": variants}}
    if tracing is not None:
        config = tracing.apply(config)
    for update in compiled.stream(inputs, config=config, context=session.context, stream_mode="updates"):
        for change in update.values():
            yield from (change or {}).get("calls", [])


@dataclass
class Run:
    """One run of a scenario: where its rows go. Every finished call becomes a results.csv row and
    is handed to ``on_call``."""

    run_id: str
    scenario: Scenario
    writer: ResultsWriter
    on_call: Callable[[CallRecord], None]
    tracing: Tracing | None = None
    errors: list[str] = field(default_factory=list)  # sessions that failed in a concurrent run

    def calls(self, session: Session) -> Iterator[CallRecord]:
        """The session's calls, made one per step through its client: each step makes one call,
        writes its row and yields it. Scenarios interleave sessions call by call with this."""
        if session.before is not None:
            session.before()
        if session.client == "graph":
            calls = graph_calls(session, self.scenario.name, self.tracing)
        elif session.client == "agent":
            calls = graph_calls(session, self.scenario.name, self.tracing, agent_graph)
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

    def concurrently(self, sessions: list[Session], workers: int) -> None:
        """Run sessions ``workers`` at a time; a failed session lands in ``errors``, the others go on."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self.session, s): s for s in sessions}
            for future in as_completed(futures):
                if future.exception() is not None:
                    self.errors.append(f"{futures[future].name}: {future.exception()}")
