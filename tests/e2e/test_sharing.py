"""Two vLLM instances sharing KV through Redis, on their own real stack."""

import csv
import json
import os

import pytest

from tests.conftest import free_port
from tests.e2e.helpers import assert_one_line_error, run_cli
from tests.e2e.test_launcher import assert_nothing_left, own_stack_env, settings_from

pytestmark = pytest.mark.e2e


def test_instance_b_gets_its_hits_from_redis(tmp_path, monkeypatch):
    env = own_stack_env(tmp_path, LMLAB_REDIS_PORT=str(free_port()))
    out = tmp_path / "run"
    proc = run_cli("experiments.run_graph", "--scenario", "sharing", "--repeats", "1", "--questions", "3",
                   "--manual-tokens", "600", "--max-tokens", "4", "--expect-reduction", "0", "--out", str(out), env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["variant"] for r in rows] == ["b_cold", "a_cold", "b_redis", "b_hit"]
    redis_row = rows[2]
    assert int(redis_row["lmcache_l2_hit_tokens"]) > 0, "B's first call on A's manual is served from Redis"
    # A 600-token manual is cheap to compute, so only ask for "faster than B's own cold start" here;
    # the full-size figure comes from the benchmark.
    assert float(redis_row["ttft_ms"]) < float(rows[0]["ttft_ms"])
    assert json.loads((out / "summary.json").read_text())["scenarios"]["sharing"]["comparison"]["redis_verified"]
    settings = settings_from({**env, "LMLAB_INSTANCES": "2", "LMLAB_REDIS": "true"}, monkeypatch)
    assert_nothing_left(settings, [])


def test_missing_redis_server_names_the_fix(tmp_path):
    env = own_stack_env(tmp_path, LMLAB_REDIS="true", PATH=os.path.dirname(os.__file__))
    assert_one_line_error(run_cli("serving", "up", env=env), "redis-server is not installed", "make setup")


def test_a_redis_url_that_does_not_answer(tmp_path):
    env = own_stack_env(tmp_path, LMLAB_REDIS="true", LMLAB_REDIS_URL=f"redis://127.0.0.1:{free_port()}")
    assert_one_line_error(run_cli("serving", "up", env=env), "does not answer", "LMLAB_REDIS_URL")


def test_too_little_memory_for_two_instances_is_refused_before_anything_starts(tmp_path):
    env = own_stack_env(tmp_path, LMLAB_INSTANCES="2", LMLAB_KV_CACHE_GIB="64")
    assert_one_line_error(run_cli("serving", "up", env=env), "need about", "GiB", "LMLAB_KV_CACHE_GIB")
