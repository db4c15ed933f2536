"""The user's own questions on the real stack: a run over my manual with my questions asks only those
and scores every answer; a LangFuse dataset (made with the real SDK in the local receiver) works as the
source, and the scores reach LangFuse; cached answers keep the verdict of the cold one, up to a near tie."""

import csv
import json
import os
import uuid

import pytest

from observability.settings import from_env as langfuse_settings
from observability.tracing import new_client
from tests.e2e.helpers import run_cli
from tests.langfuse_receiver import LangfuseReceiver

pytestmark = pytest.mark.e2e

NO_LANGFUSE_ENV = {k: "" for k in os.environ if k.startswith("LANGFUSE_")}
MANUAL = """\
The Heron 3 coffee machine
==========================

The Heron 3 makes espresso, lungo and hot water. Its water tank holds 1.2 litres.
The descaling light is orange: when it shines, run the descaling programme with citric acid.
The grinder has nine settings; setting 1 is the finest.
The machine switches itself off after 20 minutes without use.
The drip tray is emptied when its red float shows.
""" + "".join(f"Care note {i}: wipe the steam wand after each use and keep the beans in a dry, dark place.\n" for i in range(40))
# (The care notes make the manual a few of LMCache's 256-token chunks long: a shorter prompt has nothing to hit.)
# Three questions, two with the answer they should get (a word or two the manual states).
MY_CSV = ("question,expected\nWhat colour is the descaling light?,orange\n"
          "How much water does the tank hold?,1.2 litres\nWhat drinks does the Heron 3 make?,\n")  # fmt: skip
EXPECTED = {"What colour is the descaling light?": "orange", "How much water does the tank hold?": "1.2 litres",
            "What drinks does the Heron 3 make?": ""}  # fmt: skip


def rows(out) -> list[dict]:
    return list(csv.DictReader((out / "results.csv").open()))


def assert_scored(rows: list[dict], expected: dict) -> None:
    """Every row asks one of my questions and carries its expectation, and a 1/0 verdict where there is one."""
    assert {r["question"] for r in rows} <= set(expected)
    for r in rows:
        assert r["expected"] == expected[r["question"]]
        assert r["correct"] in ({"0", "1"} if r["expected"] else {""}), r


@pytest.fixture
def mine(tmp_path):
    (tmp_path / "my.txt").write_text(MANUAL)
    (tmp_path / "my.csv").write_text(MY_CSV)
    return tmp_path


def test_a_run_over_my_manual_asks_only_my_questions_and_scores_them(stack, mine):
    out = mine / "run"
    proc = run_cli("experiments.run_graph", "--endpoint", stack.settings.endpoint, "--manual", str(mine / "my.txt"),
                   "--questions-file", str(mine / "my.csv"), "--questions", "3", "--repeats", "3", "--max-tokens", "12",
                   "--expect-reduction", "0", "--out", str(out), env=NO_LANGFUSE_ENV)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = rows(out)
    # --questions keeps its meaning: three questions a session, each repeat opening with the next one.
    assert len(found) == 9 and {r["question"] for r in found} == set(EXPECTED)
    assert [r["question"] for r in found if r["variant"] == "cold"] == list(EXPECTED)
    assert_scored(found, EXPECTED)

    figures = json.loads((out / "summary.json").read_text())["correctness"]
    # Cold: the two questions with an expectation; hits: each of them twice.
    assert {v: f["answers"] for v, f in figures["variants"].items()} == {"cold": 2, "hit": 4}
    for variant, f in figures["variants"].items():
        assert f["correct"] == sum(int(r["correct"]) for r in found if r["variant"] == variant and r["correct"])
    # A hit computes only the question over cached KV: the same answer as cold, barring a near tie.
    assert figures["against_cold"]["hit"] == {"questions": 2, "differ": []}
    assert "correct answers: cold" in proc.stdout and "hit vs cold: of 2 questions asked both ways" in proc.stdout
    assert "### Correctness" in (out / "report.md").read_text()
    assert json.loads((out / "run.json").read_text())["questions"][0] == {"text": "What colour is the descaling light?",
                                                                          "expected": "orange"}  # fmt: skip


@pytest.fixture
def receiver():
    with LangfuseReceiver() as r:
        yield r


def test_a_langfuse_dataset_is_the_source_and_langfuse_gets_the_scores(stack, mine, receiver):
    env = {"LANGFUSE_PUBLIC_KEY": f"pk-lf-test-{uuid.uuid4().hex[:8]}", "LANGFUSE_SECRET_KEY": "sk-lf-test-secret",
           "LANGFUSE_BASE_URL": receiver.url}  # fmt: skip
    # The dataset as a user makes it, through the SDK: inputs are the questions, expected outputs the answers.
    client = new_client(langfuse_settings(env).settings)
    client.create_dataset(name="heron questions")
    for question, expected in EXPECTED.items():
        client.create_dataset_item(dataset_name="heron questions", input=question, expected_output=expected or None)
    out = mine / "run"
    proc = run_cli("experiments.run_graph", "--endpoint", stack.settings.endpoint, "--manual", str(mine / "my.txt"),
                   "--dataset", "heron questions", "--questions", "2", "--repeats", "1", "--max-tokens", "12",
                   "--expect-reduction", "0", "--out", str(out), env={**NO_LANGFUSE_ENV, **env})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = rows(out)
    assert [r["question"] for r in found] == list(EXPECTED)[:2]
    assert_scored(found, EXPECTED)
    assert receiver.invalid == []

    # Each answer's verdict is a score on the observation that recorded the call, and on its trace.
    on_calls = sorted(s["value"] for s in receiver.scores if s["name"] == "correct" and s.get("observationId"))
    assert on_calls == sorted(float(r["correct"]) for r in found)
    assert len([s for s in receiver.scores if s["name"] == "correct" and not s.get("observationId")
                and not s.get("datasetRunId")]) == len(found)  # fmt: skip
    # Each variant's experiment run gets the share of correct answers; the lab's items carry the expectation.
    on_runs = {s["datasetRunId"]: s["value"] for s in receiver.scores if s["name"] == "correct" and s.get("datasetRunId")}
    by_name = {r["name"]: r["id"] for r in receiver.runs.values()}
    run_id = json.loads((out / "summary.json").read_text())["run_id"]
    for variant in ("cold", "hit"):
        assert on_runs[by_name[f"{run_id} {variant}"]] == float(next(r["correct"] for r in found if r["variant"] == variant))
    lab_items = [i for i in receiver.items.values() if i["datasetName"].startswith("lmcache-lab/")]
    assert {i["input"]["question"]: i["expectedOutput"] for i in lab_items} == {q: EXPECTED[q] for q in list(EXPECTED)[:2]}


def test_every_tier_keeps_the_verdict_of_vllms_own_cache_hit(tiers_env, mine):
    """The equivalence scenario with my questions, on the tiers stack (``tiers_env``): every tier's answer
    is compared with the cold one; each LMCache tier's answer must get the verdict vLLM's own cache hit
    got (the same computation); one that differs from cold must be a difference the scenario explains
    as a near tie."""
    out = mine / "run"
    proc = run_cli("experiments.run_graph", "--scenario", "equivalence", "--manual", str(mine / "my.txt"),
                   "--questions-file", str(mine / "my.csv"), "--repeats", "1", "--max-tokens", "12",
                   "--expect-reduction", "0", "--keep-stack", "--out", str(out), env={**NO_LANGFUSE_ENV, **tiers_env})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = rows(out)
    assert_scored(found, EXPECTED)
    comparison = json.loads((out / "summary.json").read_text())["scenarios"]["equivalence"]["comparison"]
    # Every tier's answer is compared with the cold one, token by token, and every difference says where.
    assert sum(v["identical"] + v["different"] for v in comparison["per_tier"].values()) == 3 * len({r["repeat"] for r in found})
    assert comparison["identical_fraction"] is not None
    for diff in comparison["differences"]:
        assert {"tier", "position", "cold_token", "tier_token"} <= set(diff), "every difference is explained"
    assert all(json.loads(r["answer_logprobs"]) for r in found), "each answer carries its token logprobs"
    explained = {(d["repeat"], d["tier"]) for d in comparison["differences"] if d["explained"]}
    for repeat in {r["repeat"] for r in found}:
        verdict = {r["variant"]: r["correct"] for r in found if r["repeat"] == repeat}
        for tier in ("lmcache_l1", "lmcache_disk"):
            assert verdict[tier] == verdict["vllm_cache"], (repeat, tier, verdict)
        for tier in ("vllm_cache", "lmcache_l1", "lmcache_disk"):
            assert verdict[tier] == verdict["cold"] or (int(repeat), tier) in explained, (repeat, tier, verdict)
