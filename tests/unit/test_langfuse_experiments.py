"""A traced run recorded as LangFuse experiments: datasets, items, experiment runs linking each call's
trace, item and run scores with their configs, checked against the SDK's own request models.

A stand-in graph (one node recording a call per question, no model server) is traced by the real
SDK into the local receiver; the e2e tests (tests/e2e/test_tracing.py) do the same on real runs.
"""

import json
import operator
import uuid
from typing import Annotated, TypedDict

import pandas as pd
import pytest
from langgraph.graph import END, START, StateGraph

from metrics.records import CallRecord

from observability.experiments import (
    CACHE_SOURCES,
    ExperimentPlan,
    Manual,
    cache_source,
)
from observability.tracing import Tracing
from tests.langfuse_receiver import LangfuseReceiver

QUESTIONS = ["What does assert do?", "What is a lambda?", "How do loops work?"]
TTFT = {"cold": 900.0, "hit": 300.0}
PLAN = ExperimentPlan("run-1", "cold_hit", Manual("python-docs-topics", 600, "ab12cd34ef56ab78"),
                      {"model": "smollm2-135m-instruct", "git_commit": "abc123", "versions": {"langfuse": "4.15.6"}},
                      baseline="cold")  # fmt: skip


class State(TypedDict):
    questions: list
    calls: Annotated[list, operator.add]


def record(state: State) -> dict:
    i = len(state["calls"])
    cached = 0 if i == 0 else 512
    return {"calls": [CallRecord(question_id=i, question=state["questions"][i], ttft_ms=TTFT["cold" if i == 0 else "hit"],
                                 prompt_tokens=700, cached_tokens=cached, device_hit_tokens=0, lmcache_hit_tokens=cached,
                                 lmcache_l1_hit_tokens=cached, lmcache_l2_hit_tokens=0, hit_rate=round(cached / 700, 4),
                                 layout="manual_first")]}  # fmt: skip


def graph():
    g = StateGraph(State)
    g.add_node("record", record)
    g.add_edge(START, "record")
    g.add_conditional_edges("record", lambda s: "record" if len(s["calls"]) < len(s["questions"]) else END)
    return g.compile()


def run(receiver, plan=PLAN, sessions=2) -> Tracing:
    env = {"LANGFUSE_PUBLIC_KEY": f"pk-lf-unit-{uuid.uuid4().hex[:8]}", "LANGFUSE_SECRET_KEY": "sk-lf-unit",
           "LANGFUSE_BASE_URL": receiver.url}  # fmt: skip
    tracing = Tracing.from_env(plan.run_id, env)
    tracing.record_experiments(plan)
    rows = []
    try:
        for r in range(sessions):
            config = tracing.apply({"metadata": {"scenario": plan.scenario, "session": f"s{r}",
                                                 "variants": ["cold", "hit", "hit"]}})  # fmt: skip
            out = graph().invoke({"questions": QUESTIONS, "calls": []}, config=config)
            rows += [{**c.row(), "session": f"s{r}", "variant": "cold" if c.question_id == 0 else "hit"} for c in out["calls"]]
        tracing.experiment_results(pd.DataFrame(rows))
        assert tracing.flush() is None
    finally:
        tracing.close()
    return tracing


@pytest.fixture
def receiver():
    with LangfuseReceiver() as r:
        yield r


def test_a_run_becomes_a_dataset_with_one_experiment_run_per_variant(receiver):
    tracing = run(receiver)
    assert receiver.invalid == []
    (dataset,) = receiver.datasets.values()
    assert dataset["name"] == "lmcache-lab/cold_hit/python-docs-topics-600t-ab12cd34"
    assert dataset["metadata"] == {"scenario": "cold_hit", "manual": "python-docs-topics", "manual_tokens": 600,
                                   "manual_fingerprint": "ab12cd34ef56ab78"}  # fmt: skip
    assert sorted(i["input"]["question"] for i in receiver.items.values()) == sorted(QUESTIONS)
    assert all(i["metadata"]["manual_tokens"] == 600 for i in receiver.items.values())

    runs = {name: r for (_, name), r in receiver.runs.items()}
    assert set(runs) == {"run-1 cold", "run-1 hit"}
    assert runs["run-1 cold"]["metadata"]["baseline"] is True and "(baseline)" in runs["run-1 cold"]["description"]
    expected = {"model": "smollm2-135m-instruct", "git_commit": "abc123", "variant": "hit", "baseline_variant": "cold",
                "baseline": False}  # fmt: skip
    assert {k: runs["run-1 hit"]["metadata"].get(k) for k in expected} == expected
    assert tracing.info()["experiments"] == {"dataset": dataset["name"], "runs": ["run-1 cold", "run-1 hit"],
                                             "baseline_run": "run-1 cold"}  # fmt: skip

    # Each call's trace is linked at the observation of the node that recorded it.
    spans = {s["span_id"]: s for s in receiver.spans}
    assert len(receiver.run_items) == 6
    for item in receiver.run_items:
        span = spans[item["observationId"]]
        assert span["name"] == "record" and span["trace_id"] == item["traceId"]
        a = span["attributes"]
        assert a["langfuse.experiment.item.id"] == item["datasetItemId"]
        assert a["langfuse.experiment.name"] == item["datasetRunName"]
        assert a["langfuse.experiment.item.root_observation_id"] == span["span_id"]
        assert json.loads(a["langfuse.experiment.metadata"])["variant"] in ("cold", "hit")
        assert json.loads(a["langfuse.experiment.item.metadata"])["manual_fingerprint"] == "ab12cd34ef56ab78"


def test_every_call_and_every_run_gets_its_scores_with_configs(receiver):
    run(receiver)
    configs = {c["name"]: c for c in receiver.score_configs.values()}
    assert set(configs) >= {"ttft_ms", "hit_rate", "cached_tokens", "lmcache_hit_tokens", "cache_source", "ttft_reduction"}
    assert [c["label"] for c in configs["cache_source"]["categories"]] == CACHE_SOURCES
    assert configs["hit_rate"]["minValue"] == 0 and configs["hit_rate"]["maxValue"] == 1

    by_observation: dict[str, dict] = {}
    for s in receiver.scores:
        if s.get("observationId"):
            by_observation.setdefault(s["observationId"], {})[s["name"]] = s
    for item in receiver.run_items:
        scores = by_observation[item["observationId"]]
        assert set(scores) == {"ttft_ms", "hit_rate", "cached_tokens", "lmcache_hit_tokens", "cache_source"}
        source = scores["cache_source"]
        assert source["dataType"] == "CATEGORICAL" and source["value"] in ("none", "lmcache memory")
        assert source["configId"] == configs["cache_source"]["id"]

    run_ids = {r["name"]: r["id"] for r in receiver.runs.values()}
    on_runs = {(s["datasetRunId"], s["name"]): s for s in receiver.scores if s.get("datasetRunId")}
    hit, cold = run_ids["run-1 hit"], run_ids["run-1 cold"]
    assert on_runs[(hit, "ttft_median_ms")]["value"] == 300.0 and on_runs[(cold, "ttft_median_ms")]["value"] == 900.0
    assert on_runs[(hit, "ttft_reduction")]["value"] == pytest.approx(1 - 300 / 900, abs=1e-4)
    assert "against run-1 cold" in on_runs[(hit, "ttft_reduction")]["comment"]
    assert (cold, "ttft_reduction") not in on_runs  # the baseline is not measured against itself
    assert on_runs[(hit, "hit_rate")]["value"] == pytest.approx(512 / 700, abs=1e-4)


def test_the_next_run_reuses_the_dataset_items_and_score_configs(receiver):
    run(receiver)
    posts = lambda: [(m, p) for m, p, _ in receiver.rest if m == "POST" and "run-items" not in p]  # noqa: E731
    created = len(posts())
    run(receiver, ExperimentPlan("run-2", PLAN.scenario, PLAN.manual, PLAN.metadata, baseline=PLAN.baseline))
    assert receiver.invalid == [] and len(posts()) == created  # nothing created twice
    assert len(receiver.datasets) == 1 and len(receiver.items) == 3
    assert {name for (_, name) in receiver.runs} == {"run-1 cold", "run-1 hit", "run-2 cold", "run-2 hit"}


def test_the_receiver_refuses_what_langfuse_would_refuse(receiver):
    from langfuse import Langfuse

    client = Langfuse(public_key=f"pk-lf-unit-{uuid.uuid4().hex[:8]}", secret_key="sk", base_url=receiver.url)
    with pytest.raises(Exception):
        client.api.dataset_run_items.create(run_name="r", dataset_item_id="no-such-item", trace_id="t")
    client.create_dataset(name="d")
    receiver.answer("POST", "/api/public/dataset-items", {}, json.dumps({"datasetName": "d", "colour": "red"}).encode())
    assert receiver.invalid and "unknown fields ['colour']" in receiver.invalid[-1]


def test_the_cache_source_is_where_most_cached_tokens_came_from():
    assert cache_source({"cached_tokens": 0}) == "none"
    assert cache_source({"cached_tokens": 512, "device_hit_tokens": 512, "lmcache_l1_hit_tokens": 0,
                         "lmcache_l2_hit_tokens": 0}) == "vllm"  # fmt: skip
    hit = {"cached_tokens": 512, "device_hit_tokens": 0, "lmcache_l1_hit_tokens": 0, "lmcache_l2_hit_tokens": 512}
    assert cache_source(hit) == "lmcache disk" and cache_source(hit, "redis") == "redis"
    assert cache_source({"cached_tokens": 512, "device_hit_tokens": 0, "lmcache_l1_hit_tokens": 256,
                         "lmcache_l2_hit_tokens": 0, "lmcache_hit_tokens": 256}) == "lmcache memory"  # fmt: skip
    assert cache_source({"cached_tokens": 512}) is None  # no /metrics: the source is unknown, not guessed


def test_the_report_names_the_dataset_and_the_runs():
    from experiments.analysis.report import tracing_section

    tracing = {"enabled": True, "base_url": "http://lf", "session_id": "run-1", "tags": ["cold_hit"],
               "experiments": {"dataset": "lmcache-lab/cold_hit/m-600t-ab12cd34", "runs": ["run-1 cold", "run-1 hit"],
                               "baseline_run": "run-1 cold"}}  # fmt: skip
    text = "\n".join(tracing_section({"tracing": tracing}))
    assert "dataset **`lmcache-lab/cold_hit/m-600t-ab12cd34`**: `run-1 cold`, `run-1 hit` (baseline `run-1 cold`)" in text
    assert "docs/observability-compare.md" in text
    # A run folder from before experiments existed still reports.
    assert "experiment runs" not in "\n".join(tracing_section({"tracing": {**tracing, "experiments": None}}))
