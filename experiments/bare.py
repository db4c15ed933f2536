"""Sessions that go around the graph: the floors the harness is measured against.

``bare`` sends the very messages the graph would send, through a bare httpx streaming client;
``suffix`` sends only the question, without the manual: the floor of any cache hit.
"""

from collections.abc import Iterator
from dataclasses import replace

import httpx
from langgraph.runtime import Runtime

from clients.bare_stream import stream_chat
from clients.vllm import scrape_metrics
from experiments.scenarios import Session
from graphs.state import State
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import call_record
from nodes.manual import load_manual
from nodes.prefix import build_static_prefix
from nodes.question import add_question
from prompts.layouts import dynamic_part


def bare_prompts(session: Session) -> Iterator[tuple[int, list[dict], int]]:
    """Yield (question index, messages, static prefix tokens) for a ``bare`` or ``suffix`` session.

    ``bare`` builds the prompt with the graph's own nodes, called as plain functions, so the
    messages are byte-identical to what the graph sends on the same manual edition."""
    runtime = Runtime(context=session.context)
    state = State(questions=session.questions, manual_edition=session.edition)
    if session.client == "bare":
        state = replace(state, **load_manual(state, runtime))
        state = replace(state, **build_static_prefix(state, runtime))
    for i, question in enumerate(session.questions):
        if session.client == "bare":
            messages = add_question(replace(state, question_index=i), runtime)["messages"]
        else:
            messages = [{"role": "user", "content": dynamic_part(question)}]  # the floor of any hit
        yield i, messages, state.static_prefix_tokens


def bare_calls(session: Session) -> Iterator[dict]:
    """Make the session's calls with the bare client, yielding each finished call's record. Metrics
    are scraped around each call, as the graph's nodes do, so the rows carry the same cache-source columns."""
    ctx = session.context
    with httpx.Client() as http:
        for i, messages, prefix_tokens in bare_prompts(session):
            text = scrape_metrics(ctx.endpoint, ctx.api_key)
            before = parse_counters(text) if text is not None else None
            result = stream_chat(http, ctx.endpoint, ctx.model, messages, max_tokens=ctx.max_tokens,
                                 temperature=ctx.temperature, api_key=ctx.api_key, timeout=ctx.request_timeout_s)  # fmt: skip
            text = scrape_metrics(ctx.endpoint, ctx.api_key) if before is not None else None
            hits = hit_tokens(delta(before, parse_counters(text))) if text is not None else None
            pending = {"question_id": i, "question": session.questions[i], **result}
            # Suffix-only calls have no layout and no static prefix: left empty, they stay out of per-layout figures.
            layout = ctx.layout if session.client == "bare" else ""
            yield call_record(pending, hits, layout=layout, static_prefix_tokens=prefix_tokens)
