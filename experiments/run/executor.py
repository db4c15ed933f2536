"""Run planned sessions against a stack: every finished call becomes a labelled results.csv row."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from experiments.run.clients import QA_GRAPH
from experiments.run.plan import Session
from experiments.run.results import ResultsWriter
from metrics.correctness import answers_the_question, is_correct
from metrics.records import CallRecord
from observability.tracing import Tracing


@dataclass
class Executor:
    """One run's executor: labels each call with its run, scenario, session and variant (and, where
    its question has an expected answer, that answer and whether the call got it right), writes it
    to results.csv and hands it to ``on_call``."""

    run_id: str
    scenario: str
    writer: ResultsWriter
    on_call: Callable[[CallRecord], None] = lambda record: None
    tracing: Tracing | None = None
    errors: list[str] = field(default_factory=list)  # sessions that failed in a concurrent run
    expected: dict[str, str] = field(default_factory=dict)  # question text -> expected answer (the user's questions)

    def config(self, session: Session) -> dict:
        """The graph run config: run metadata naming the scenario and each question's variant (for
        traces), with the LangFuse handler when the run is traced."""
        variants = [session.variants[i] for i in session.planned_ids()]
        config = {"run_name": session.name, "metadata": {"scenario": self.scenario, "session": session.name, "variants": variants}}
        if self.expected:  # per question, like the variants: the trace scores each answer as results.csv does
            config["metadata"]["expected"] = [self.expected.get(q, "") for q in session.questions]
        return self.tracing.apply(config) if self.tracing is not None else config

    def label(self, session: Session, call: CallRecord) -> CallRecord:
        planned_id = session.planned_ids()[call.question_id]
        expected = self.expected.get(call.question, "") if answers_the_question(call.node) else ""
        return replace(call, run_id=self.run_id, scenario=self.scenario, variant=session.variants[planned_id],
                       repeat=session.repeat, session=session.name, question_id=planned_id,
                       expected=expected, correct=is_correct(call.answer, expected))  # fmt: skip

    def calls(self, session: Session) -> Iterator[CallRecord]:
        """The session's calls, one per step: each step makes one call, writes its row and yields it.
        Scenarios interleave sessions call by call with this."""
        if session.before is not None:
            session.before()
        client = session.client or QA_GRAPH
        for call in client.calls(session, self.config(session)):
            record = self.label(session, call)
            self.writer.write(record)
            self.on_call(record)
            yield record

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
