"""The tool_loop scenario on real stacks, small: one question of three turns per configuration. Each
later turn's uncached tokens stay within its new tokens plus one vLLM block (prefix cache in front)
or one LMCache chunk (LMCache alone), and the cached tokens come from the source each configuration has."""

import csv
import json

import pytest

from experiments.scenarios.tool_loop.scenario import CONFIGS, config_settings
from serving.launcher import Stack
from tests.e2e.helpers import own_stack_env, run_cli, settings_from

pytestmark = pytest.mark.e2e
TURNS = 3
ARGS = ["--scenario", "tool_loop", "--questions", "1", "--repeats", "1", "--manual-tokens", "600", "--max-tokens", "16"]


@pytest.fixture(scope="module")
def tool_loop_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tool_loop")
    env = own_stack_env(folder, LMLAB_TOOL_TURNS=str(TURNS))
    out = folder / "run"
    proc = run_cli("experiments.run_graph", *ARGS, "--out", str(out), env=env, timeout=1800)  # three stacks, one after another
    yield proc, out
    with pytest.MonkeyPatch.context() as mp:
        base = settings_from(env, mp)
    for config in CONFIGS:  # nothing may be left running, whatever happened
        Stack(config_settings(base, config)).down(quiet=True)


def rows(out) -> list[dict]:
    return list(csv.DictReader((out / "results.csv").open()))


def test_every_later_turn_keeps_to_its_mark(tool_loop_run):
    proc, out = tool_loop_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PASS" in proc.stdout and "within the mark" in proc.stdout
    comp = json.loads((out / "summary.json").read_text())["scenarios"]["tool_loop"]["comparison"]
    assert comp["failures"] == []
    assert {(t["config"], t["turn"]) for t in comp["turns"]} == {(c, t) for c in CONFIGS for t in range(1, TURNS + 1)}
    assert (out / "tool_loop_uncached_per_turn.png").is_file()


def test_each_turn_records_its_new_cached_and_uncached_tokens_and_their_source(tool_loop_run):
    _, out = tool_loop_run
    calls = rows(out)
    assert len(calls) == len(CONFIGS) * TURNS
    for r in calls:
        assert r["node"] == "call_model" and r["tool_call"].startswith("find_section(")
        assert int(r["uncached_tokens"]) == int(r["prompt_tokens"]) - int(r["cached_tokens"])
        assert int(r["new_tokens"]) > 0
    later = [r for r in calls if int(r["turn"]) >= 2]
    for r in later:
        assert int(r["new_tokens"]) < int(r["prompt_tokens"]) // 2, "a later turn shares the manual and the history"
        if r["variant"] == "vllm_prefix":
            assert int(r["device_hit_tokens"]) > 0, "vLLM's prefix cache in front serves the history"
        else:
            assert int(r["device_hit_tokens"]) == 0 and int(r["lmcache_hit_tokens"]) > 0, "LMCache alone"
