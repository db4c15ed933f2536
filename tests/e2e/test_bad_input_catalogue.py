"""The bad-input catalogue: every way a user can get the input wrong, and what they get back.

Each case runs the real command line (``python -m experiments.run_graph`` or ``python -m serving up``)
and goes through one check, ``assert_refused``: exit code 2, exactly one ``error:`` line that says
what is wrong and how to fix it (the words each case lists), no traceback, and a clean state after:
no run folder (a run that measured nothing leaves none), no state file, shared-memory pool or bound
port of a stack that did not start, and the shared test stack still healthy.

The main job, ``python -m experiments.run_graph``:
  manual        missing, empty, binary, not UTF-8, too large for the context (a server's, or the
                stack's own, counted with the local tokenizer in seconds before anything starts),
                a budget or a context the manual cannot fit
  questions     a --questions-file that is missing, holds no questions, is a CSV without a question
                column or a JSONL line that is not a question object; --questions-file with --dataset;
                --dataset without LangFuse keys, or with a LangFuse that does not answer
  names         unknown scenario, unknown layout (LMLAB_LAYOUT), unknown agent layout (LMLAB_AGENT_LAYOUT)
  counts        zero questions, negative repeats, one question where a hit needs two, a count that
                is not a number, --concurrency outside the load and soak scenarios, --duration
                outside the soak or below 1 s, --expect-reduction that is not a fraction
  endpoint      malformed URL, nothing listening, a server that is not OpenAI's, a wrong model name,
                --endpoint with a scenario that runs its own servers,
                an LMCache /metrics URL (LMLAB_LMCACHE_METRICS_URL) that does not answer
  output        an --out that cannot be written, --resume of a folder that is not a run
  settings      a bad LMLAB_* value, a malformed LANGFUSE_BASE_URL (with keys set)
The launcher, ``python -m serving up`` (and run_graph when it starts the stack):
  a port in use, a missing model folder, a model folder vLLM cannot load, LMCache flags the
  server rejects, an LMCache chunk that is no multiple of vLLM's CPU block (128), a bad LMLAB_* value, a Redis URL that does not answer, no redis-server
  installed, too little memory for the stack, an unknown LMLAB_PROFILE, the gpu profile without
  a model, a non-loopback LMLAB_HOST without LMLAB_API_KEY
LangGraph Studio, ``make studio``: a non-loopback LMLAB_HOST without LMLAB_API_KEY
A fleet (``LMLAB_INSTANCES=N LMLAB_ROUTER=<policy>``): an unknown policy or sharing mode, N below 1,
  more instances than memory allows, a router or KV-event port in use; the fleet scenario: a bad
  LMLAB_FLEET_CELLS cell
The capacity scenario: a bad LMLAB_CAPACITY_SIZES, LMLAB_CAPACITY_PATTERNS or LMLAB_CAPACITY_CONFIGS
  (refused before its stack starts); ``python -m serving capacity`` with a bad --manual-tokens
"""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from prompts.manual import builtin_manual
from serving.settings import StackSettings
from tests.conftest import free_port
from tests.e2e.helpers import ROOT, assert_nothing_left, assert_one_line_error, own_stack_env, run_cli, settings_from

pytestmark = pytest.mark.e2e

NO_SERVER = "http://127.0.0.1:1/v1"  # nothing listens on port 1
NO_LANGFUSE_ENV = {k: "" for k in os.environ if k.startswith("LANGFUSE_")}  # a developer's own keys stay out
LANGFUSE_KEYS = {"LANGFUSE_PUBLIC_KEY": "pk-lf-catalogue", "LANGFUSE_SECRET_KEY": "sk-lf-catalogue"}


def assert_refused(proc, *words: str, out: Path | None = None, stack: StackSettings | None = None) -> str:
    """The catalogue's check: exit 2, one ``error:`` line holding ``words``, no traceback; then no
    run folder at ``out`` and nothing of ``stack`` left: state file, shared-memory pool, bound ports."""
    line = assert_one_line_error(proc, *words)
    assert "Traceback" not in proc.stdout, proc.stdout
    if out is not None:
        assert not out.exists(), f"a refused run left {sorted(p.name for p in out.iterdir())} in {out}"
    if stack is not None:
        assert_nothing_left(stack, [])
        for setting, port in stack.ports().items():
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((stack.host, port))  # raises when a server still holds it
    return line


@pytest.fixture
def bad(tmp_path) -> Path:
    """A folder of unusable files: manuals, and a model folder whose architecture does not exist."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.md").write_bytes(b"")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "latin1.txt").write_bytes(b"na\xefve caf\xe9")
    (folder / "huge.md").write_text(builtin_manual()[:60_000])
    (folder / "blank.txt").write_text("\n  \n")
    (folder / "header.csv").write_text("prompt,answer\nWhat does assert do?,raises\n")
    (folder / "broken.jsonl").write_text('{"question": "What does assert do?"}\n{"prompt": "What is a lambda?"}\n')
    (folder / "broken-model").mkdir()
    (folder / "broken-model" / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    return folder


# id: (arguments, environment, words the error line holds). {bad} is the folder above; {endpoint}
# and {lmcache} are the shared test stack's vLLM endpoint and LMCache HTTP root (those cases start it).
RUN_GRAPH_CASES = {
    "missing manual": (["--manual", "{bad}/no-such.md"], {}, ["no-such.md does not exist", "--manual"]),
    "empty manual": (["--manual", "{bad}/empty.md"], {}, ["empty.md is empty", "some text"]),
    "binary manual": (["--manual", "{bad}/image.png"], {}, ["image.png looks binary", ".txt or .md"]),
    "non-UTF-8 manual": (["--manual", "{bad}/latin1.txt"], {}, ["latin1.txt is not UTF-8", "iconv"]),
    "manual too large for the context": (["--endpoint", "{endpoint}", "--manual", "{bad}/huge.md"], {},
                                         ["huge.md is", "tokens", "--manual-tokens"]),
    "missing questions file": (["--questions-file", "{bad}/no-such.csv"], {}, ["no-such.csv does not exist", "--questions-file"]),
    "questions file without questions": (["--questions-file", "{bad}/blank.txt"], {}, ["blank.txt holds no questions", "one question a line"]),
    "questions CSV without a question column": (["--questions-file", "{bad}/header.csv"], {},
                                                ["has no 'question' column (its header: prompt, answer)", "question,expected"]),
    "questions JSONL line without a question": (["--questions-file", "{bad}/broken.jsonl"], {},
                                                ['line 2 is not a JSON object with a "question" string', "one object a line"]),
    "questions file and dataset together": (["--questions-file", "{bad}/header.csv", "--dataset", "mine"], {},
                                            ["--questions-file and --dataset both give the questions", "pass one of them"]),
    "dataset without LangFuse keys": (["--dataset", "mine"], {}, ["--dataset mine reads a LangFuse dataset", "LANGFUSE_PUBLIC_KEY"]),
    "dataset on a LangFuse that does not answer": (["--dataset", "mine"], {**LANGFUSE_KEYS, "LANGFUSE_BASE_URL": "http://127.0.0.1:1"},
                                                   ["cannot read the LangFuse dataset 'mine' at http://127.0.0.1:1", "LANGFUSE_BASE_URL"]),
    "unknown scenario": (["--scenario", "nope"], {}, ["unknown scenario 'nope'", "cold_hit"]),
    "unknown layout": ([], {"LMLAB_LAYOUT": "question_first"}, ["unknown layout 'question_first'", "manual_first"]),
    "unknown agent layout": (["--scenario", "agent"], {"LMLAB_AGENT_LAYOUT": "per_node"}, ["unknown agent layout 'per_node'", "shared_prefix"]),
    "zero questions": (["--questions", "0"], {}, ["--questions must be at least 1, got 0"]),
    "negative repeats": (["--repeats", "-1"], {}, ["--repeats must be at least 1, got -1"]),
    "one question where a hit needs two": (["--questions", "1"], {}, ["--questions must be at least 2 for cold_hit"]),
    "concurrency outside the load scenario": (["--concurrency", "4"], {}, ["--concurrency applies to the load and soak scenarios only"]),
    "duration outside the soak scenario": (["--duration", "60"], {}, ["--duration applies to the soak scenario only"]),
    "a duration below one second": (["--scenario", "soak", "--duration", "0"], {}, ["--duration must be at least 1"]),
    "an argument of the wrong type": (["--questions", "abc"], {}, ["argument --questions: invalid int value: 'abc'", "--help"]),
    "reduction that is not a fraction": (["--expect-reduction", "7"], {}, ["--expect-reduction is a fraction between 0 and 1"]),
    "malformed endpoint": (["--endpoint", "localhost:8000"], {}, ["not an http(s) URL", "http://127.0.0.1:8100/v1"]),
    "unreachable endpoint": ([], {}, [f"cannot reach {NO_SERVER}", "python -m serving up", "--endpoint"]),
    "endpoint that is not an OpenAI server": (["--endpoint", "{lmcache}/v1"], {}, ["is not an OpenAI-compatible server"]),
    "wrong model name": (["--endpoint", "{endpoint}", "--model", "gpt-17"], {},
                         ["model 'gpt-17' is not served", "smollm2-135m-instruct"]),
    "endpoint for a scenario that runs its own servers": (["--scenario", "tiers", "--questions", "1"], {},
                                                          ["tiers restarts and resets the servers", "drop --endpoint"]),
    "LMCache metrics URL that does not answer": (["--endpoint", "{endpoint}"], {"LMLAB_LMCACHE_METRICS_URL": "http://127.0.0.1:1"},
                                                 ["LMLAB_LMCACHE_METRICS_URL='http://127.0.0.1:1' does not answer", "leave it empty"]),
    "bad environment value": ([], {"LMLAB_MAX_TOKENS": "lots"}, ["LMLAB_MAX_TOKENS='lots' is not an integer"]),
    "malformed LangFuse URL": ([], {**LANGFUSE_KEYS, "LANGFUSE_BASE_URL": "cloud.langfuse.com"},
                               ["LANGFUSE_BASE_URL='cloud.langfuse.com' is not an http(s) URL", "unset LANGFUSE_PUBLIC_KEY"]),
}  # fmt: skip


@pytest.mark.parametrize("case", RUN_GRAPH_CASES)
def test_run_graph_refuses(case, bad, tmp_path, request):
    args, env, words = RUN_GRAPH_CASES[case]
    places = {"bad": bad}
    if any("{endpoint}" in a or "{lmcache}" in a for a in args):
        stack = request.getfixturevalue("stack")
        places |= {"endpoint": stack.settings.endpoint, "lmcache": stack.settings.lmcache_urls()[0]}
    out = tmp_path / "run"
    args = ["--endpoint", NO_SERVER, "--questions", "2", "--repeats", "1", "--out", str(out)] + [a.format(**places) for a in args]
    proc = run_cli("experiments.run_graph", *args, env={**NO_LANGFUSE_ENV, **env})
    assert_refused(proc, *words, out=out)
    if "endpoint" in places:
        assert request.getfixturevalue("stack").running(), "a refused run must not disturb the stack it used"


# id: (arguments, extra environment for the stack a run would start, words the error line holds): a manual
# that cannot fit the context is counted with the local tokenizer and refused before that stack starts.
TOO_LONG_CASES = {
    "own manual too long for the stack's context": (["--manual", "{bad}/huge.md"], {},
                                                    ["huge.md is", "tokens the context leaves", "--manual-tokens N to cut it"]),
    "a manual budget larger than the context": (["--manual-tokens", "9000"], {},
                                                ["a manual of 9000 tokens does not fit", "lower --manual-tokens"]),
    "a context too small for the default budget": ([], {"LMLAB_MAX_MODEL_LEN": "2048"},
                                                   ["a manual of 4000 tokens does not fit", "lower --manual-tokens"]),
}  # fmt: skip


@pytest.mark.parametrize("case", TOO_LONG_CASES)
def test_a_manual_too_long_is_refused_in_seconds_before_any_server_starts(case, bad, tmp_path, monkeypatch):
    args, extra, words = TOO_LONG_CASES[case]
    env = own_stack_env(tmp_path, **extra)
    out = tmp_path / "run"
    started = time.monotonic()
    proc = run_cli("experiments.run_graph", "--out", str(out), *(a.format(bad=bad) for a in args), env={**NO_LANGFUSE_ENV, **env})
    took = time.monotonic() - started
    assert_refused(proc, *words, out=out, stack=settings_from(env, monkeypatch))
    assert not (settings_from(env, monkeypatch).state_dir / "logs").exists(), "no server may have been started"
    assert took < 90, f"took {took:.0f} s: a count takes seconds (most of it importing transformers), a stack start minutes"


def test_an_out_folder_that_cannot_be_written(tmp_path):
    proc = run_cli("experiments.run_graph", "--endpoint", NO_SERVER, "--out", "/proc/no-such-run")
    assert_refused(proc, "cannot write the run folder /proc/no-such-run", "choose another with --out")


def test_resume_of_a_folder_that_is_not_a_run_leaves_it_as_it_was(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = run_cli("experiments.run_graph", "--resume", str(tmp_path))
    assert_refused(proc, f"{tmp_path} is not a run folder", "run.json")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_port_in_use_when_run_graph_starts_its_stack(tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = own_stack_env(tmp_path, LMLAB_VLLM_PORT=str(port))
        out = tmp_path / "run"
        proc = run_cli("experiments.run_graph", "--out", str(out), env=env)
    assert_refused(proc, f"port {port} on 127.0.0.1 is already in use", "LMLAB_VLLM_PORT", out=out,
                   stack=settings_from(env, monkeypatch))  # fmt: skip


def test_a_non_loopback_host_without_an_api_key_when_run_graph_starts_its_stack(tmp_path, monkeypatch):
    env = own_stack_env(tmp_path, LMLAB_HOST="0.0.0.0", LMLAB_API_KEY="")
    out = tmp_path / "run"
    proc = run_cli("experiments.run_graph", "--out", str(out), env=env)
    assert_refused(proc, "LMLAB_HOST='0.0.0.0' is not a loopback address", "set LMLAB_API_KEY", out=out,
                   stack=settings_from(env, monkeypatch))  # fmt: skip


def test_make_studio_on_a_non_loopback_host_without_an_api_key():
    proc = subprocess.run(["make", "--no-print-directory", "studio"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LMLAB_HOST": "192.0.2.1", "LMLAB_API_KEY": ""})  # fmt: skip
    assert_refused(proc, "LMLAB_HOST='192.0.2.1' is not a loopback address", "LangGraph Studio", "set LMLAB_API_KEY")
    assert "langgraph dev" not in proc.stdout, "Studio must not start"


# id: (extra environment for a throw-away stack, words the error line holds). {bad} is the folder
# above, {free} a free port. A server that exits at start-up is named with its own complaint.
LAUNCHER_CASES = {
    "missing model folder": ({"LMLAB_MODEL_DIR": "{bad}/no-model"}, ["has no config.json", "LMLAB_MODEL_DIR"]),
    "model folder vLLM cannot load": ({"LMLAB_MODEL_DIR": "{bad}/broken-model", "LMLAB_LMCACHE": "false"},
                                      ["vllm exited during start-up", "no-such-architecture", "python -m serving settings"]),
    "LMCache flags the server rejects": ({"LMLAB_LMCACHE_L1_GIB": "-1"},
                                         ["lmcache exited during start-up", "'size' must be a positive integer",
                                          "python -m serving settings"]),
    "an LMCache chunk vLLM's CPU blocks cannot hold": ({"LMLAB_CHUNK_SIZE": "64"}, ["LMLAB_CHUNK_SIZE=64", "multiple of vLLM's block size", "128"]),
    "bad environment value": ({"LMLAB_ENFORCE_EAGER": "maybe"}, ["LMLAB_ENFORCE_EAGER='maybe' is not a boolean", "true/false"]),
    "Redis URL that does not answer": ({"LMLAB_REDIS": "true", "LMLAB_REDIS_URL": "redis://127.0.0.1:{free}"},
                                       ["does not answer", "LMLAB_REDIS_URL"]),
    "no redis-server installed": ({"LMLAB_REDIS": "true", "LMLAB_REDIS_PORT": "{free}", "PATH": os.path.dirname(os.__file__)},
                                  ["redis-server is not installed", "make setup"]),
    "too little memory": ({"LMLAB_INSTANCES": "2", "LMLAB_KV_CACHE_GIB": "64"}, ["need about", "GiB", "LMLAB_KV_CACHE_GIB"]),
    "unknown profile": ({"LMLAB_PROFILE": "tpu"}, ["LMLAB_PROFILE='tpu' is not a profile", "cpu, gpu"]),
    "unknown router policy": ({"LMLAB_INSTANCES": "2", "LMLAB_ROUTER": "fastest"},
                              ["LMLAB_ROUTER='fastest' is not a vllm-router policy", "round_robin", "consistent_hash"]),
    "unknown sharing mode": ({"LMLAB_INSTANCES": "2", "LMLAB_SHARING": "cluster"},
                             ["LMLAB_SHARING='cluster' is not a sharing mode", "none, node, redis"]),
    "no instances": ({"LMLAB_INSTANCES": "0", "LMLAB_ROUTER": "round_robin"}, ["LMLAB_INSTANCES=0 must be at least 1"]),
    "a fleet too big for memory": ({"LMLAB_INSTANCES": "40", "LMLAB_ROUTER": "round_robin", "LMLAB_SHARING": "node"},
                                   ["40 instance(s) need about", "GiB", "LMLAB_KV_CACHE_GIB"]),
    "gpu profile without a model": ({"LMLAB_PROFILE": "gpu", "LMLAB_LMCACHE_L1_GIB": "1"},
                                    ["the gpu profile serves your own model", "LMLAB_MODEL_DIR", "hub id"]),
    "non-loopback host without an API key": ({"LMLAB_HOST": "0.0.0.0", "LMLAB_API_KEY": ""},
                                             ["LMLAB_HOST='0.0.0.0' is not a loopback address", "vLLM would answer anyone",
                                              "set LMLAB_API_KEY", "or bind 127.0.0.1"]),
}  # fmt: skip
BAD_VALUES = {"LMLAB_ENFORCE_EAGER", "LMLAB_PROFILE", "LMLAB_ROUTER", "LMLAB_SHARING", "LMLAB_INSTANCES", "LMLAB_CHUNK_SIZE"}  # left out when checking what the refused stack left behind


@pytest.mark.parametrize("case", LAUNCHER_CASES)
def test_serving_up_refuses(case, bad, tmp_path, monkeypatch):
    extra, words = LAUNCHER_CASES[case]
    env = own_stack_env(tmp_path, **{k: v.format(bad=bad, free=free_port()) for k, v in extra.items()})
    proc = run_cli("serving", "up", env=env)
    valid = {k: v for k, v in env.items() if k.startswith("LMLAB_") and k not in BAD_VALUES}  # the stack it would be
    assert_refused(proc, *words, stack=settings_from(valid, monkeypatch))


@pytest.mark.parametrize("setting", ["LMLAB_ROUTER_PORT", "LMLAB_KV_EVENTS_PORT"])
def test_a_router_or_kv_event_port_in_use(setting, tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"LMLAB_ROUTER_PORT": str(free_port()), "LMLAB_KV_EVENTS_PORT": str(free_port()), setting: str(port)}
        env = own_stack_env(tmp_path, LMLAB_INSTANCES="2", LMLAB_ROUTER="kv_aware", LMLAB_ROUTER_METRICS_PORT=str(free_port()), **ports)
        proc = run_cli("serving", "up", env=env)
    assert_refused(proc, f"port {port} on 127.0.0.1 is already in use", setting, stack=settings_from(env, monkeypatch))


def test_a_fleet_cell_that_does_not_exist(tmp_path, monkeypatch):
    env = own_stack_env(tmp_path, LMLAB_FLEET_CELLS="round_robin:none,fastest:node")
    out = tmp_path / "run"
    proc = run_cli("experiments.run_graph", "--scenario", "fleet", "--out", str(out), env={**NO_LANGFUSE_ENV, **env})
    assert_refused(proc, "LMLAB_FLEET_CELLS: 'fastest:node' is not a cell", "policy:sharing", out=out,
                   stack=settings_from({**env, "LMLAB_INSTANCES": "2", "LMLAB_ROUTER": "round_robin"}, monkeypatch))  # fmt: skip


CAPACITY_CASES = {
    "working-set sizes that are not numbers": ({"LMLAB_CAPACITY_SIZES": "1,x"}, ["LMLAB_CAPACITY_SIZES='1,x' is not a comma-separated list", "1,2,4,8"]),
    "no positive working-set size": ({"LMLAB_CAPACITY_SIZES": "0"}, ["LMLAB_CAPACITY_SIZES='0' needs at least one positive manual count"]),
    "an unknown visiting pattern": ({"LMLAB_CAPACITY_PATTERNS": "lru"}, ["LMLAB_CAPACITY_PATTERNS='lru'", "round_robin, zipf"]),
    "an unknown configuration": ({"LMLAB_CAPACITY_CONFIGS": "gpu_only"}, ["LMLAB_CAPACITY_CONFIGS='gpu_only'", "vllm_only, lmcache_memory, lmcache_disk"]),
}  # fmt: skip


@pytest.mark.parametrize("case", CAPACITY_CASES)
def test_the_capacity_scenario_refuses_before_its_stack_starts(case, tmp_path, monkeypatch):
    extra, words = CAPACITY_CASES[case]
    env = own_stack_env(tmp_path, **extra)
    out = tmp_path / "run"
    proc = run_cli("experiments.run_graph", "--scenario", "capacity", "--out", str(out), env={**NO_LANGFUSE_ENV, **env})
    assert_refused(proc, *words, out=out, stack=settings_from(env, monkeypatch))


@pytest.mark.parametrize("value, words", [("abc", ["argument --manual-tokens: invalid int value: 'abc'", "--help"]),
                                          ("0", ["--manual-tokens must be at least 1, got 0"])])  # fmt: skip
def test_the_capacity_table_refuses_a_bad_manual_size(value, words):
    assert_refused(run_cli("serving", "capacity", "--manual-tokens", value), *words)
