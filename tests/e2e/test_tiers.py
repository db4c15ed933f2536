"""Which tier served the hit, and does reuse change answers: the tiers and equivalence scenarios on
their own real stack (vLLM's prefix cache on, restarted for the disk tier), the session's
``tiers_env`` (``tests/conftest.py``), which ``test_user_questions.py`` runs on too."""

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


def test_answers_from_every_tier_are_compared_with_the_cold_answer(tiers_env, tmp_path):
    proc = run_cli("experiments.run_graph", "--scenario", "equivalence", *SMALL, "--keep-stack", "--out", str(tmp_path), env=tiers_env)
    assert proc.returncode == 0, proc.stderr
    comparison = json.loads((tmp_path / "summary.json").read_text())["scenarios"]["equivalence"]["comparison"]
    assert sum(v["identical"] + v["different"] for v in comparison["per_tier"].values()) == 3
    assert comparison["identical_fraction"] is not None
    for diff in comparison["differences"]:
        assert {"tier", "position", "cold_token", "tier_token"} <= set(diff), "every difference is explained"
    for row in rows_by_variant(tmp_path).values():
        assert json.loads(row["answer_logprobs"]), "each answer carries its token logprobs"
