"""Two vLLM instances sharing KV through Redis, on their own real stack, and the password that
guards that Redis."""

import csv
import json
import stat

import psutil
import pytest
import redis

from experiments.scenarios.sharing import Sharing
from lab.settings import env_name
from serving.launcher import Stack
from tests.conftest import free_port
from tests.e2e.helpers import assert_nothing_left, own_stack_env, run_cli, settings_from

pytestmark = pytest.mark.e2e


def test_instance_b_gets_its_hits_from_redis_which_requires_a_password_that_reaches_no_log_or_result(
    tmp_path, monkeypatch
):
    env = own_stack_env(tmp_path, LMLAB_REDIS_PORT=str(free_port()))
    # The scenario's own stack, as `serving status` and `down` name it: its settings where the environment sets none.
    stack_env = {**{env_name(k): str(v) for k, v in Sharing.stack_overrides(None, "cpu").items()}, **env}
    settings = settings_from(stack_env, monkeypatch)
    state = settings.state_dir / "stack.json"
    out = tmp_path / "run"
    try:
        proc = run_cli("experiments.run_graph", "--scenario", "sharing", "--repeats", "1", "--questions", "3",
                       "--manual-tokens", "600", "--max-tokens", "4", "--expect-reduction", "0", "--keep-stack",
                       "--out", str(out), env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        rows = list(csv.DictReader((out / "results.csv").open()))
        assert [r["variant"] for r in rows] == ["b_cold", "a_cold", "b_redis", "b_redis_again"]
        redis_row = rows[2]
        assert int(redis_row["lmcache_l2_hit_tokens"]) > 0, "B's first call on A's manual is served from Redis"
        # A 600-token manual is cheap to compute, so only ask for "faster than B's own cold start" here;
        # the full-size figure comes from the benchmark.
        assert float(redis_row["ttft_ms"]) < float(rows[0]["ttft_ms"])
        assert json.loads((out / "summary.json").read_text())["scenarios"]["sharing"]["comparison"]["redis_verified"]

        # The Redis the launcher started requires a password it generated, which LMCache got (its
        # hits came from there), kept in the owner-only state file.
        assert stat.S_IMODE(state.stat().st_mode) == 0o600, "the state file holds the password: owner only"
        password = next(s for s in json.loads(state.read_text())["services"] if s["name"] == "redis")["secret"]
        assert len(password) >= 24
        url = f"redis://{settings.host}:{settings.redis_port}"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(url).dbsize()
        assert redis.Redis.from_url(url, password=password).dbsize() > 0

        # Never printed, on no command line, in no log, results file or summary.
        said = [proc.stdout, proc.stderr, *(run_cli("serving", cmd, env=stack_env).stdout for cmd in ("status", "settings"))]
        command_lines = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        assert not [text for text in said + command_lines if password in text]
        for path in [*out.rglob("*"), *settings.state_dir.rglob("*")]:
            if path.is_file() and path != state:
                assert password not in path.read_text(errors="replace"), f"the Redis password leaked into {path}"
    finally:
        Stack(settings).down(quiet=True)
    assert_nothing_left(settings, [])
