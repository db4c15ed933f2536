"""Sessions that go around the graph: the floors the harness is measured against.

``bare`` sends the very messages the graph would send, through a bare httpx streaming client;
``suffix`` sends only the question, without the manual: the floor of any cache hit.
"""

from collections.abc import Iterator
from dataclasses import replace

import httpx
from langgraph.runtime import Runtime

from clients.bare_stream import stream_chat
from clients.measured import counters_before, hits_between
from experiments.scenarios import Session
from graphs.state import State
from metrics.records import CallRecord
from nodes.manual import load_manual
from nodes.prefix import build_static_prefix
from nodes.question import add_question
from prompts.layouts import dynamic_part


def session_state(session: Session) -> State:
    """The graph state a ``bare`` session's prompts are built from (its manual and static prefix, by
    the graph's own nodes called as plain functions); a ``suffix`` session needs none of it."""
    state = State(questions=session.questions, manual_edition=session.edition)
    if session.client != "bare":
        return state
    runtime = Runtime(context=session.context)
    state = replace(state, **load_manual(state, runtime))
    return replace(state, **build_static_prefix(state, runtime))


def bare_prompts(session: Session, state: State | None = None) -> Iterator[tuple[int, list[dict], int]]:
    """Yield (question index, messages, static prefix tokens) for a ``bare`` or ``suffix`` session.

    ``bare`` messages are byte-identical to what the graph sends on the same manual edition."""
    state = state or session_state(session)
    runtime = Runtime(context=session.context)
    for i, question in enumerate(session.questions):
        if session.client == "bare":
            messages = add_question(replace(state, question_index=i), runtime)["messages"]
        else:
            messages = [{"role": "user", "content": dynamic_part(question)}]  # the floor of any hit
        yield i, messages, state.static_prefix_tokens


def bare_calls(session: Session) -> Iterator[CallRecord]:
    """Make the session's calls with the bare client, yielding each finished call's record. Metrics
    are scraped around each call with the graph's own functions, so the rows carry the same cache-source columns."""
    ctx = session.context
    state = session_state(session)
    bare = session.client == "bare"
    with httpx.Client() as http:
        for i, messages, prefix_tokens in bare_prompts(session, state):
            before = counters_before(ctx)
            result = stream_chat(http, ctx.endpoint, ctx.model, messages, max_tokens=ctx.max_tokens,
                                 temperature=ctx.temperature, api_key=ctx.api_key, timeout=ctx.request_timeout_s)  # fmt: skip
            hits = hits_between(ctx, before)
            # Suffix-only calls have no layout and no static prefix: left empty, they stay out of per-layout figures.
            call = CallRecord(question_id=i, question=session.questions[i], node=session.client, layout=ctx.layout if bare else "",
                              static_prefix_tokens=prefix_tokens, manual_tokens=state.manual_tokens or None, **result)  # fmt: skip
            yield call.with_hits(hits)
