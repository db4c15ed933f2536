"""What an experiment plans: sessions of questions over one manual edition, each made by a client.

A ``Client`` is who makes a session's calls (the QA graph, a bare HTTP client, ...): anything with
a ``name`` and a ``calls(session, config)`` that yields one ``CallRecord`` per finished call, lazily,
so that scenarios can interleave sessions call by call. The executor labels and writes them.

A ``Plan`` is what a scenario's ``sessions`` returns and its ``run`` and ``comparison`` receive: the
sessions, and in a scenario's own subclass whatever else those two need, so that nothing a run
plans is kept on the scenario object.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from graphs.context import Context
from metrics.records import CallRecord
from prompts.questions import BUILT_IN, Question


class Client(Protocol):
    name: str

    def calls(self, session: "Session", config: dict) -> Iterator[CallRecord]:
        """Make the session's calls in order; ``config`` is the graph run config (metadata, tracing)."""
        ...


@dataclass
class Session:
    """Questions asked in order over one manual edition, each labelled with a variant."""

    name: str
    repeat: int
    questions: list[str]
    variants: list[str]
    edition: str
    context: Context
    client: Client | None = None  # None: the QA graph (experiments.run.clients.QA_GRAPH)
    # Runs just before the session: reset a cache, restart servers, wait for a tier to fill.
    before: Callable[[], None] | None = field(default=None, repr=False)
    # Which of the planned questions this run asks (all when None); a resumed run asks only the missing ones.
    question_ids: list[int] | None = None

    def planned_ids(self) -> list[int]:
        """The planned question id of each question this session asks."""
        return self.question_ids or list(range(len(self.questions)))

    def remaining(self, done: set[tuple[str, int]]) -> "Session | None":
        """This session without the questions already in results.csv, or None when nothing is left."""
        ids = [i for i in range(len(self.questions)) if (self.name, i) not in done]
        if not ids:
            return None
        return replace(self, questions=[self.questions[i] for i in ids], question_ids=ids)


@dataclass(frozen=True)
class Plan(Sequence):
    """A scenario's sessions, in the order planned (a sequence of them), and in subclasses what its
    ``run`` and ``comparison`` need besides."""

    sessions: list[Session]
    # What ``run`` saw that results.csv does not hold (a restart's time, what a stack left behind), for ``comparison``.
    observed: dict = field(default_factory=dict, kw_only=True, repr=False)

    def __getitem__(self, i):
        return self.sessions[i]

    def __len__(self) -> int:
        return len(self.sessions)

    def remaining(self, done: set[tuple[str, int]]) -> "Plan":
        """This plan without the calls already in results.csv (a resumed run)."""
        return replace(self, sessions=[rest for s in self.sessions if (rest := s.remaining(done)) is not None])


def questions_for(repeat: int, count: int, pool: Sequence[Question] = BUILT_IN) -> list[str]:
    """``count`` questions of ``pool`` (the run's: ``ScenarioOptions.question_pool``), rotated per repeat
    so each repeat opens with another one; different ones while the pool has enough."""
    return [pool[(repeat + i) % len(pool)].text for i in range(count)]


def cold_then_hits(count: int) -> list[str]:
    """Variants of a session on a fresh manual: the first call is cold, the others hit it."""
    return ["cold"] + ["hit"] * (count - 1)


def question_session(name: str, repeat: int, count: int, edition: str, context: Context,
                     variants: list[str] | None = None, pool: Sequence[Question] = BUILT_IN, **more) -> Session:  # fmt: skip
    """``count`` questions of ``pool`` (rotated per repeat) over one manual edition; variants default to cold then hits."""
    return Session(name=name, repeat=repeat, questions=questions_for(repeat, count, pool),
                   variants=variants or cold_then_hits(count), edition=edition, context=context, **more)  # fmt: skip
