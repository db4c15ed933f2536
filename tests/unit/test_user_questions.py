"""The user's own questions: the files and LangFuse datasets they come from, how sessions take them,
and how each answer is scored against its expected answer (results.csv, summary, trace).

The LangFuse dataset is created by the real SDK in the local receiver (tests/langfuse_receiver.py)
and read back through the SDK, as a run reads it."""

import json
import re
import uuid

import pandas as pd
import pytest
from rich.console import Console

from experiments.analysis.correctness import correctness, correctness_lines
from experiments.run.executor import Executor
from experiments.run.experiment import _Run
from experiments.run.plan import Session, questions_for
from experiments.run.stacks import Stacks
from experiments.run.questions import load_questions
from experiments.run.spec import RUN_JSON, RunSpec
from experiments.scenarios import SCENARIOS
from experiments.scenarios.base import ScenarioOptions
from graphs.context import Context
from lab.errors import UserError
from lab.settings import resolve_params, resolve_with_sources
from metrics.correctness import is_correct, normalise
from metrics.records import CallRecord
from observability.calls import call_scores, scored
from observability.datasets import dataset_questions
from observability.settings import from_env as langfuse_settings
from observability.tracing import new_client
from prompts.questions import BUILT_IN, Question
from serving.settings import StackSettings
from tests.langfuse_receiver import LangfuseReceiver

MINE = (Question("What colour is the sky?", "blue"), Question("How many legs has a spider?", "eight"),
        Question("Who wrote Hamlet?"))  # fmt: skip


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# The files.


def test_a_text_file_is_one_question_a_line_without_expectations(tmp_path):
    path = write(tmp_path, "my.txt", "What colour is the sky?\n\n  How many legs has a spider?  \n")
    assert load_questions(path) == (Question("What colour is the sky?"), Question("How many legs has a spider?"))


def test_a_csv_file_has_a_question_column_and_an_optional_expected_one(tmp_path):
    # A spreadsheet's export: a byte-order mark, capitalised headers, a quoted comma, an empty cell.
    path = write(tmp_path, "my.csv", '\ufeffQuestion,Expected\nWhat colour is the sky?,blue\n'
                                     '"How many legs has a spider, roughly?",eight\nWho wrote Hamlet?,\n')  # fmt: skip
    assert load_questions(path) == (Question("What colour is the sky?", "blue"),
                                    Question("How many legs has a spider, roughly?", "eight"), Question("Who wrote Hamlet?"))  # fmt: skip


def test_a_jsonl_file_is_one_object_a_line(tmp_path):
    lines = [{"question": "What colour is the sky?", "expected": "blue"}, {"question": "How many legs has a spider?", "expected": 8},
             {"question": "Who wrote Hamlet?"}]  # fmt: skip
    path = write(tmp_path, "my.jsonl", "\n".join(map(json.dumps, lines)) + "\n\n")
    assert load_questions(path) == (Question("What colour is the sky?", "blue"), Question("How many legs has a spider?", "8"),
                                    Question("Who wrote Hamlet?"))  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), [
    ("none.txt", None, "none.txt does not exist or is not a file; pass one question a line"),
    ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image.png looks binary"),
    ("latin1.txt", b"caf\xe9?\n", "latin1.txt is not UTF-8"),
    ("blank.txt", "\n  \n", "blank.txt holds no questions"),
    ("header.csv", "prompt,answer\nWhy?,because\n", "header.csv has no 'question' column (its header: prompt, answer)"),
    ("gap.csv", "question,expected\nWhy?,because\n,orphan\n", "gap.csv: row 3 has no question"),
    ("twice.txt", "Why?\nHow?\nWhy?\n", "twice.txt: line 3 repeats the question of line 1"),
    ("broken.jsonl", '{"question": "Why?"}\n{"q": "How?"}\n', 'broken.jsonl: line 2 is not a JSON object with a "question" string'),
])  # fmt: skip
def test_a_bad_file_is_one_line_saying_what_to_fix(tmp_path, name, content, message):
    path = write(tmp_path, name, content) if content is not None else tmp_path / name
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_questions(path)
    assert "\n" not in str(err.value)


# The rule.


def test_an_answer_is_correct_when_it_contains_the_expected_text_once_both_are_normalised():
    assert normalise("  The SKY is\nBLUE, mostly! ") == "the sky is blue mostly"
    assert is_correct("The sky is, usually, Blue.", "blue") == 1
    assert is_correct("It raises AssertionError.", "raises AssertionError!") == 1
    assert is_correct("It raises an AssertionError.", "raises AssertionError") == 0  # contained as written, not as words
    assert is_correct("The sky is grey.", "blue") == 0
    assert is_correct("anything", None) is None and is_correct("anything", "  ") is None


# Where the questions go.


def test_sessions_take_only_the_users_questions_rotated_per_repeat_and_questions_n_keeps_its_meaning():
    assert questions_for(0, 2, MINE) == ["What colour is the sky?", "How many legs has a spider?"]
    assert questions_for(1, 2, MINE) == ["How many legs has a spider?", "Who wrote Hamlet?"]
    assert questions_for(0, 4, MINE)[3] == MINE[0].text  # more asked than given: they come round again
    assert questions_for(0, 2) == [q.text for q in BUILT_IN[:2]]


# sweep and capacity measure the manuals on the server while they plan: their e2e tests cover them.
@pytest.mark.parametrize("scenario", [name for name in SCENARIOS if name not in ("sweep", "capacity")])
def test_every_scenario_asks_the_users_questions(scenario):
    cls = SCENARIOS[scenario]
    params = resolve_params(cls.params_class, env={})[0] if cls.params_class else None
    stack = resolve_with_sources(StackSettings, env={}, overrides=cls.stack_overrides(params, "cpu"))[0]
    opts = ScenarioOptions(run_id="r", questions=3, repeats=2, context=Context(), question_pool=MINE,
                           stacks=Stacks(stack), params=params, duration_s=1)  # fmt: skip
    plan = cls().sessions(opts)
    asked = {q for s in plan for q in s.questions}
    assert asked and asked <= {q.text for q in MINE}


def test_a_run_spec_resolves_the_file_once_and_run_json_keeps_the_questions_for_resume(tmp_path):
    path = write(tmp_path, "my.csv", "question,expected\nWhat colour is the sky?,blue\nWho wrote Hamlet?,\n")
    spec = RunSpec.build(questions_file=str(path), out=tmp_path / "run", env={})
    assert spec.questions == (Question("What colour is the sky?", "blue"), Question("Who wrote Hamlet?"))
    run = _Run(spec, Console(quiet=True))
    run.open_folder(SCENARIOS["cold_hit"]())
    saved = json.loads((run.out / RUN_JSON).read_text())
    assert saved["args"]["questions_file"] == str(path)
    path.write_text("question\nSomething else entirely?\n")  # the file changes before --resume
    assert RunSpec.resume(run.out, env={}).questions == spec.questions


def test_the_built_in_questions_are_asked_without_a_file_or_dataset():
    assert RunSpec.build(env={}).questions == BUILT_IN


def test_a_file_and_a_dataset_together_are_refused():
    with pytest.raises(UserError, match="--questions-file and --dataset both give the questions; pass one of them"):
        RunSpec.build(questions_file="my.csv", dataset="mine", env={})


# Scoring.


def test_the_executor_scores_each_answer_its_question_expects():
    session = Session("s", 0, [q.text for q in MINE], ["cold", "hit", "hit"], "edition", Context())
    executor = Executor("run", "cold_hit", writer=None, expected={"What colour is the sky?": "blue", "How many legs has a spider?": "eight"})
    label = lambda i, answer, node="generate": executor.label(session, CallRecord(question_id=i, question=MINE[i].text,  # noqa: E731
                                                                                  answer=answer, node=node))
    assert (label(0, "It is blue.").expected, label(0, "It is blue.").correct) == ("blue", 1)
    assert label(1, "Six legs.").correct == 0
    assert (label(2, "Shakespeare").expected, label(2, "Shakespeare").correct) == ("", None)  # no expectation: no score
    assert label(0, '{"look_for": "blue"}', node="plan").correct is None  # the agent's plan is not an answer
    assert executor.config(session)["metadata"]["expected"] == ["blue", "eight", ""]


def test_the_trace_scores_the_call_as_results_csv_does():
    metadata = {"variants": ["cold", "hit"], "expected": ["blue", ""]}
    record = scored(CallRecord(question_id=0, answer="Blue!", ttft_ms=5.0), metadata)
    assert (record.expected, record.correct) == ("blue", 1)
    assert call_scores(record) == {"ttft_ms": 5.0, "correct": 1.0}
    assert scored(CallRecord(question_id=1, answer="x"), metadata).correct is None
    assert "correct" not in call_scores(CallRecord(question_id=0, ttft_ms=5.0))


def test_correctness_per_variant_and_cold_against_hit_answers_of_the_same_question():
    df = pd.DataFrame([
        {"variant": "cold", "question": "sky", "correct": 1}, {"variant": "hit", "question": "sky", "correct": 1},
        {"variant": "cold", "question": "legs", "correct": 0}, {"variant": "hit", "question": "legs", "correct": 1},
        {"variant": "hit", "question": "hamlet", "correct": None},
    ])  # fmt: skip
    figures = correctness(df)
    assert figures["variants"] == {"cold": {"answers": 2, "correct": 1, "share": 0.5}, "hit": {"answers": 2, "correct": 2, "share": 1.0}}
    assert figures["against_cold"] == {"hit": {"questions": 2, "differ": ["legs"]}}
    lines = correctness_lines(figures)
    assert lines[0].startswith("correct answers: cold 1/2 (50%), hit 2/2 (100%) (correct = the answer contains the expected answer")
    assert lines[1].startswith("hit vs cold: of 2 questions asked both ways, 1 got a different verdict (legs)")
    assert correctness(df.assign(correct=None)) is None and correctness_lines(None) == []


# A LangFuse dataset as the source.


@pytest.fixture
def receiver():
    with LangfuseReceiver() as r:
        yield r


def keys(url: str) -> dict:
    return {"LANGFUSE_PUBLIC_KEY": f"pk-lf-unit-{uuid.uuid4().hex[:8]}", "LANGFUSE_SECRET_KEY": "sk-lf-unit", "LANGFUSE_BASE_URL": url}


def make_dataset(env: dict, name: str, items: list[dict]) -> None:
    """The dataset as a user makes it: through the SDK's public API."""
    client = new_client(langfuse_settings(env).settings)
    client.create_dataset(name=name)
    for item in items:
        client.create_dataset_item(dataset_name=name, **item)


def test_a_langfuse_datasets_inputs_are_the_questions_and_its_expected_outputs_the_expectations(receiver):
    env = keys(receiver.url)
    make_dataset(env, "my questions/v1", [
        {"input": "What colour is the sky?", "expected_output": "blue"},
        {"input": {"question": "How many legs has a spider?"}, "expected_output": {"expected": "eight"}},
        {"input": "Who wrote Hamlet?"},
    ])  # fmt: skip
    spec = RunSpec.build(dataset="my questions/v1", env=env)
    assert spec.questions == MINE
    # What the SDK asked for: the dataset by name, then its items, page by page.
    gets = [(m, p) for m, p, _ in receiver.rest if m == "GET"]
    assert ("GET", "/api/public/v2/datasets/my%20questions%2Fv1") in gets and ("GET", "/api/public/dataset-items") in gets
    assert receiver.invalid == []


def test_a_dataset_that_is_not_there_or_has_items_of_another_shape_is_one_line(receiver):
    env = keys(receiver.url)
    with pytest.raises(UserError, match=re.escape("cannot read the LangFuse dataset 'nope'")) as err:
        RunSpec.build(dataset="nope", env=env)
    assert "there is no such dataset" in str(err.value)
    make_dataset(env, "odd", [{"input": {"prompt": "Why?"}}])
    with pytest.raises(UserError, match=re.escape("of the LangFuse dataset 'odd' has no question")):
        RunSpec.build(dataset="odd", env=env)
    make_dataset(env, "empty", [])
    with pytest.raises(UserError, match=re.escape("the LangFuse dataset 'empty' has no active items")):
        RunSpec.build(dataset="empty", env=env)


def test_a_dataset_needs_langfuse_keys():
    with pytest.raises(UserError, match=re.escape("--dataset mine reads a LangFuse dataset, but LangFuse is not configured")):
        dataset_questions("mine", None)


def test_the_capacity_scenario_asks_the_users_questions_instead_of_its_own():
    from experiments.scenarios.capacity.scenario import QUESTIONS, Capacity

    def asked(pool):
        opts = ScenarioOptions(run_id="r", questions=1, repeats=2, context=Context(), question_pool=pool)
        return {q for s in Capacity().sweep_step(opts, Context(), "vllm_only", 2, ["round_robin"]) for q in s.questions}

    assert asked(MINE) <= {q.text for q in MINE}
    assert asked(BUILT_IN) <= {q.text for q in QUESTIONS}


def test_a_traced_answer_gets_its_correct_score_on_its_observation_and_trace(receiver):
    import operator
    from typing import Annotated, TypedDict

    from langgraph.graph import END, START, StateGraph

    from observability.tracing import Tracing

    class State(TypedDict):
        calls: Annotated[list, operator.add]

    g = StateGraph(State)
    g.add_node("generate", lambda s: {"calls": [CallRecord(question_id=0, node="generate", answer="It is blue.", ttft_ms=5.0)]})
    g.add_edge(START, "generate")
    g.add_edge("generate", END)
    tracing = Tracing.from_env("run-unit", keys(receiver.url))
    try:
        g.compile().invoke({"calls": []}, config=tracing.apply({"metadata": {"variants": ["cold"], "expected": ["blue"]}}))
        assert tracing.flush() is None
    finally:
        tracing.close()
    ((trace_id, spans),) = receiver.traces().items()
    (node,) = [s for s in spans if s["name"] == "generate"]
    correct = {s.get("observationId"): s["value"] for s in receiver.scores if s["name"] == "correct"}
    assert correct == {node["span_id"]: 1.0, None: 1.0}
    assert receiver.invalid == []


def test_report_md_compares_the_correctness_of_cold_and_hit_answers(tmp_path):
    from experiments.analysis.report import write_report
    from experiments.run.results import ResultsWriter

    rows = [("cold", 0, "It is blue.", 1), ("hit", 1, "Six.", 0), ("hit", 0, "Blue, of course.", 1)]
    with ResultsWriter(tmp_path) as writer:
        for variant, q, answer, correct in rows:
            writer.write(CallRecord(run_id="r", scenario="cold_hit", variant=variant, session="s", question_id=q, ttft_ms=10.0,
                                    question=MINE[q].text, answer=answer, expected=MINE[q].expected, correct=correct))  # fmt: skip
    report = write_report(tmp_path).read_text()
    assert "### Correctness" in report
    assert "- Correct answers: cold 1/1 (100%), hit 1/2 (50%)" in report
    assert "- Hit vs cold: of 1 questions asked both ways, 0 got a different verdict" in report
    header = next(line for line in report.splitlines() if line.startswith("| scenario | variant |"))
    assert header.rstrip(" |").endswith("| correct answers")  # the per-variant table's share, as a percentage


@pytest.mark.parametrize(("expected", "answer", "correct"), [
    ("orange", "The descaling light is Orange.", 1),
    ("1.2 litres", "It holds 1.2 litres of water.", 1),
    ("1.2 litres", "About a litre.", 0),
    ("raises AssertionError", "It raises an AssertionError.", 0),
])  # fmt: skip
def test_the_rules_examples_in_docs_questions_md(expected, answer, correct):
    assert is_correct(answer, expected) == correct
