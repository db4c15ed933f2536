"""State of the agent graph: the same narrow input as the qa graph, and what its nodes fill in."""

import operator
from dataclasses import dataclass, field
from typing import Annotated

from metrics.records import CallRecord


@dataclass(kw_only=True)
class AgentInput:
    """What a caller provides: the questions of one session (or the turns of one conversation),
    asked in order over one manual."""

    questions: list[str] = field(default_factory=list)
    # Text that makes this manual byte-distinct from every earlier one (a "fresh edition"), so
    # its first call is a true cold start even with a persistent disk cache.
    manual_edition: str = ""


@dataclass(kw_only=True)
class AgentState(AgentInput):
    """Working state. ``calls``, ``prompt_token_ids`` and ``turns`` have reducers: nodes return only what they add."""

    manual: str = ""
    manual_size_tokens: int = 0  # the manual's measured size (Context.manual_tokens is its budget)
    static_prefix: str = ""  # system text + manual: the same bytes for every node under shared_prefix
    static_prefix_tokens: int = 0
    question_index: int = 0  # the question being worked on
    # The current question's work: the plan's search terms, the latest answer, the checker's verdict.
    plan: str = ""
    answer: str = ""
    attempts: int = 0  # answer calls made for the current question
    accepted: bool | None = None
    reason: str = ""  # the checker's reason, handed to a retry
    rejected_answer: str = ""  # the answer the checker rejected, handed to a retry
    # Finished turns (question, final answer), for the follow-up conversation modes.
    turns: Annotated[list[tuple[str, str]], operator.add] = field(default_factory=list)
    # Token ids of the session's earlier prompts, for the prefix each new call shares with them.
    prompt_token_ids: Annotated[list[list[int]], operator.add] = field(default_factory=list)
    calls: Annotated[list[CallRecord], operator.add] = field(default_factory=list)
