"""Who makes a session's calls (the ``Client`` protocol of ``experiments.run.plan``).

- ``GraphClient``: streams a LangGraph graph once per session (``QA_GRAPH``: the normal path;
  ``AGENT_GRAPH``: the agent graph, several calls per question; ``TOOL_LOOP_GRAPH``: several turns
  per question, each appending a tool result);
  whichever node records a call returns it in the ``calls`` state field.
- ``BareClient``: goes around the graph, the floors the harness is measured against. ``BARE`` sends
  the very messages the graph would send, through a bare httpx streaming client; ``SUFFIX`` sends
  only the question, without the manual: the floor of any cache hit.
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime

from clients.bare_stream import BareStreamer
from clients.measured import EndpointMeter, measured_call
from experiments.run.plan import Session
from graphs.agent import graph as agent_graph
from graphs.graph import graph as qa_graph
from graphs.tool_loop import graph as tool_loop_graph
from graphs.state import State
from metrics.records import CallRecord
from nodes.manual import load_manual
from nodes.prefix import build_static_prefix
from nodes.question import add_question
from prompts.layouts import dynamic_part


@dataclass(frozen=True)
class GraphClient:
    name: str
    graph: Pregel

    def calls(self, session: Session, config: dict) -> Iterator[CallRecord]:
        """Stream one graph run, yielding each finished call. The graph waits between calls until
        the next one is asked for."""
        inputs = {"questions": session.questions, "manual_edition": session.edition}
        for update in self.graph.stream(inputs, config=config, context=session.context, stream_mode="updates"):
            for change in update.values():
                yield from (change or {}).get("calls", [])


QA_GRAPH = GraphClient("graph", qa_graph)
AGENT_GRAPH = GraphClient("agent", agent_graph)
TOOL_LOOP_GRAPH = GraphClient("tool_loop", tool_loop_graph)


@dataclass(frozen=True)
class BareClient:
    name: str
    with_manual: bool  # False: the question alone

    def state(self, session: Session) -> State:
        """The graph state the prompts are built from (the manual and static prefix, by the graph's
        own nodes called as plain functions); the question alone needs none of it."""
        state = State(questions=session.questions, manual_edition=session.edition)
        if not self.with_manual:
            return state
        runtime = Runtime(context=session.context)
        state = replace(state, **load_manual(state, runtime))
        return replace(state, **build_static_prefix(state, runtime))

    def prompts(self, session: Session, state: State | None = None) -> Iterator[tuple[int, list[dict], int]]:
        """Yield (question index, messages, static prefix tokens); with the manual, the messages are
        byte-identical to what the graph sends on the same manual edition."""
        state = state or self.state(session)
        runtime = Runtime(context=session.context)
        for i, question in enumerate(session.questions):
            if self.with_manual:
                messages = add_question(replace(state, question_index=i), runtime)["messages"]
            else:
                messages = [{"role": "user", "content": dynamic_part(question)}]  # the floor of any hit
            yield i, messages, state.static_prefix_tokens

    def calls(self, session: Session, config: dict) -> Iterator[CallRecord]:
        """Make the calls with the bare client, measured as the graph's are (``measured_call``: the
        same cache-source columns, the same LMCache watchdog), without the prediction's /tokenize."""
        ctx = session.context
        state = self.state(session)
        meter = EndpointMeter(ctx.server, ctx.metrics_per_call)
        with httpx.Client() as http:
            streamer = BareStreamer(http, ctx.max_tokens, ctx.temperature)
            for i, messages, prefix_tokens in self.prompts(session, state):
                # The question alone has no layout and no static prefix: left empty, it stays out of per-layout figures.
                record, _ = measured_call(ctx.server, streamer, messages, meter=meter, question_id=i, question=session.questions[i],
                                          node=self.name, layout=ctx.layout if self.with_manual else "",
                                          static_prefix_tokens=prefix_tokens, manual_tokens=state.manual_size_tokens or None)  # fmt: skip
                yield record


BARE = BareClient("bare", with_manual=True)
SUFFIX = BareClient("suffix", with_manual=False)
