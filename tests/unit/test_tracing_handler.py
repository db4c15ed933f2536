"""The tracing handler puts each call's figures on the node that returned the call record, in sync
and async runs alike, with only the SDK's public API; and the one private SDK attribute the lab
still touches is where the lab expects it.

The graph here is a two-node stand-in for the QA graph (no model server needed); the real SDK sends
to a local receiver. The e2e tests (tests/e2e/test_tracing.py) check the same on the real graph.
"""

import asyncio
import operator
import uuid
from typing import Annotated, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from metrics.records import CallRecord, trace_metadata
from observability.tracing import Tracing
from tests.langfuse_receiver import LangfuseReceiver, metadata

RECORD = CallRecord(question_id=1, question="What is a lambda?", ttft_ms=12.5, prompt_tokens=700, cached_tokens=512,
                    device_hit_tokens=0, lmcache_hit_tokens=512, hit_rate=0.7314, layout="manual_first",
                    answer="a long answer stays out of the trace")  # fmt: skip


class State(TypedDict):
    calls: Annotated[list, operator.add]


def build_graph():
    g = StateGraph(State)
    g.add_node("think", lambda s: {})
    g.add_node("record", lambda s: {"calls": [RECORD]})
    g.add_edge(START, "think")
    g.add_edge("think", "record")
    g.add_edge("record", END)
    return g.compile()


def keys(url: str) -> dict:
    return {"LANGFUSE_PUBLIC_KEY": f"pk-lf-unit-{uuid.uuid4().hex[:8]}", "LANGFUSE_SECRET_KEY": "sk-lf-unit",
            "LANGFUSE_BASE_URL": url}  # fmt: skip


@pytest.fixture
def receiver():
    with LangfuseReceiver() as r:
        yield r


def run_traced(receiver, run_async: bool):
    tracing = Tracing.from_env("run-unit", keys(receiver.url))
    assert tracing.enabled, tracing.notice
    config = tracing.apply({"metadata": {"scenario": "cold_hit", "variants": ["cold", "hit"]}})
    graph = build_graph()
    try:
        if run_async:
            asyncio.run(graph.ainvoke({"calls": []}, config=config))
        else:
            graph.invoke({"calls": []}, config=config)
        assert tracing.flush() is None
    finally:
        tracing.close()


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_the_recording_node_carries_the_call_figures_and_scores(receiver, run_async):
    run_traced(receiver, run_async)
    ((trace_id, spans),) = receiver.traces().items()
    (record,) = [s for s in spans if s["name"] == "record"]
    (think,) = [s for s in spans if s["name"] == "think"]
    # Every traced field of the record (metrics/records.py decides which), labelled from the run metadata.
    expected = trace_metadata(RECORD) | {"scenario": "cold_hit", "variant": "hit"}
    assert {k: metadata(record).get(k) for k in expected} == expected
    assert "answer" not in metadata(record)
    assert "ttft_ms" not in metadata(think)  # only the node that returned the record
    scores = {(s["name"], s.get("observationId")): s["value"] for s in receiver.scores if s["traceId"] == trace_id}
    assert scores == {
        ("ttft_ms", record["span_id"]): 12.5, ("hit_rate", record["span_id"]): 0.7314,
        ("ttft_ms", None): 12.5, ("hit_rate", None): 0.7314,
    }  # fmt: skip


def test_the_sdk_still_registers_the_exit_hook_the_flush_bound_drops():
    """``Tracing.flush`` unregisters ``client._resources.shutdown`` from atexit when LangFuse hangs,
    as the SDK offers no public way to skip its exit-time flush. If this fails, a new SDK moved it:
    find its exit hook again, or a hung LangFuse will hold up every run's exit."""
    from unittest import mock

    from langfuse import Langfuse

    with mock.patch("atexit.register") as register:
        client = Langfuse(public_key=f"pk-lf-unit-{uuid.uuid4().hex[:8]}", secret_key="sk", base_url="http://127.0.0.1:9")
    hooks = [c.args[0] for c in register.call_args_list]
    assert client._resources.shutdown in hooks, "the SDK no longer registers _resources.shutdown with atexit"
    client._resources.shutdown()  # what the unregistered hook would have done at exit (nothing pending)
