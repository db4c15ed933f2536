"""Which tier served the hit, and does reuse change answers: the tiers and equivalence scenarios on
their own real stack (vLLM's prefix cache on, restarted for the disk tier), the session's
``tiers_env`` (``tests/conftest.py``). The equivalence scenario runs on it in ``test_user_questions.py``,
with the user's own questions."""

import csv
import json

import pytest

from tests.e2e.helpers import run_cli

pytestmark = pytest.mark.e2e

SMALL = ["--repeats", "1", "--manual-tokens", "600", "--max-tokens", "6", "--expect-reduction", "0"]


def rows_by_variant(out) -> dict:
    return {r["variant"]: r for r in csv.DictReader((out / "results.csv").open())}


def test_each_tier_is_attributed_by_the_metrics(tiers_env, tmp_path):
    proc = run_cli("experiments.run_graph", "--scenario", "tiers", *SMALL, "--keep-stack", "--out", str(tmp_path), env=tiers_env)
    assert proc.returncode == 0, proc.stderr
    rows = rows_by_variant(tmp_path)
    assert int(rows["cold"]["cached_tokens"]) == 0
    assert int(rows["vllm_cache"]["device_hit_tokens"]) > 0 and int(rows["vllm_cache"]["lmcache_hit_tokens"]) == 0
    assert int(rows["lmcache_l1"]["device_hit_tokens"]) == 0, "vLLM's own cache was really emptied"
    assert int(rows["lmcache_l1"]["lmcache_l1_hit_tokens"]) > 0
    assert int(rows["lmcache_disk"]["lmcache_l2_hit_tokens"]) > 0, "after the restart only the disk tier had the KV"
    for tier in ("vllm_cache", "lmcache_l1", "lmcache_disk"):
        assert float(rows[tier]["ttft_ms"]) < 0.5 * float(rows["cold"]["ttft_ms"])
    comparison = json.loads((tmp_path / "summary.json").read_text())["scenarios"]["tiers"]["comparison"]
    assert comparison["vllm_reset_verified"] and comparison["disk_tier_verified"]
