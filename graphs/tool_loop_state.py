"""State of the tool-loop graph: the same narrow input as the other graphs, and the conversation its turns append to."""

import operator
from dataclasses import dataclass, field
from typing import Annotated

from metrics.records import CallRecord


@dataclass(kw_only=True)
class ToolLoopInput:
    """The questions of one session, each worked on for ``Context.tool_turns`` turns over one manual."""

    questions: list[str] = field(default_factory=list)
    # Text that makes this manual byte-distinct from every earlier one, so its first call is cold.
    manual_edition: str = ""


@dataclass(kw_only=True)
class ToolLoopState(ToolLoopInput):
    """Working state. ``calls`` and ``prompt_token_ids`` have reducers: nodes return only what they add."""

    manual: str = ""
    manual_size_tokens: int = 0
    static_prefix: str = ""
    static_prefix_tokens: int = 0
    titles: list[str] = field(default_factory=list)  # the manual's section titles, for the task and the policy
    question_index: int = 0
    turn: int = 0  # turns made on the current question
    # The current question's conversation after the static prefix: the task, then each turn's reply
    # and tool result, only ever appended to.
    history: list[dict] = field(default_factory=list)
    reply: str = ""  # the latest turn's reply, appended as it streamed
    title: str | None = None  # the section the latest turn asked for (or the policy chose)
    fetched: list[str] = field(default_factory=list)  # titles fetched for the current question
    prompt_token_ids: Annotated[list[list[int]], operator.add] = field(default_factory=list)
    calls: Annotated[list[CallRecord], operator.add] = field(default_factory=list)
