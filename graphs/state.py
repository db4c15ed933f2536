"""State of the QA graph: the narrow input, and the working state nodes fill in."""

import operator
from dataclasses import dataclass, field
from typing import Annotated

from metrics.records import CallRecord


@dataclass(kw_only=True)
class InputState:
    """What a caller provides: the questions of one session, asked in order over one manual."""

    questions: list[str] = field(default_factory=list)
    # Text that makes this manual byte-distinct from every earlier one (a "fresh edition"), so
    # its first question is a true cold start even with a persistent disk cache.
    manual_edition: str = ""


@dataclass(kw_only=True)
class State(InputState):
    """Working state. ``calls`` has a reducer: each node returns only the records it adds."""

    manual: str = ""
    manual_size_tokens: int = 0  # the manual's measured size (Context.manual_tokens is its budget)
    static_prefix: str = ""  # system text + manual: byte-identical for every question
    static_prefix_tokens: int = 0
    question_index: int = 0  # the next question to ask
    messages: list[dict] = field(default_factory=list)  # the prompt of the call in flight
    # Token ids of the session's earlier prompts, for the prefix each new call shares with them.
    prompt_token_ids: Annotated[list[list[int]], operator.add] = field(default_factory=list)
    measured: CallRecord | None = None  # the call generate made, until collect_cache_stats records it
    calls: Annotated[list[CallRecord], operator.add] = field(default_factory=list)
