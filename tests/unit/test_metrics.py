"""Parsing vLLM's and LMCache's /metrics text (recorded from the real servers) into per-call hits."""

from pathlib import Path

from metrics.prometheus import EXTERNAL_HITS, delta, hit_tokens, parse_counters
from metrics.records import CallRecord, columns

FIXTURES = Path(__file__).parent.parent / "fixtures"


def counters(name: str) -> dict[str, float]:
    return parse_counters((FIXTURES / name).read_text())


def test_counters_are_summed_and_created_series_are_skipped():
    snap = counters("vllm_metrics_after_hit.txt")
    assert snap[EXTERNAL_HITS] == 3584.0
    assert not any(k.endswith("_created") for k in snap)


def test_source_label_is_kept_for_cached_by_source():
    snap = counters("vllm_metrics_after_hit.txt")
    assert snap["vllm:prompt_tokens_cached_by_source_total{source=external_unspecified}"] == 3584.0
    assert snap["vllm:prompt_tokens_cached_by_source_total{source=device}"] == 0.0


def test_a_cold_call_has_no_hits():
    hits = hit_tokens(delta(counters("vllm_metrics_before.txt"), counters("vllm_metrics_after_cold.txt")))
    assert hits["lmcache_hit_tokens"] == 0
    assert hits["device_hit_tokens"] == 0
    assert hits["lmcache_query_tokens"] > 3000  # LMCache was asked for the whole prompt


def test_a_hit_is_attributed_to_lmcache_not_to_vllms_own_cache():
    hits = hit_tokens(delta(counters("vllm_metrics_after_cold.txt"), counters("vllm_metrics_after_hit.txt")))
    assert hits["lmcache_hit_tokens"] == 3584  # 14 whole chunks of 256 tokens
    assert hits["device_hit_tokens"] == 0
    assert hits["cached_by_source"]["external_unspecified"] == 3584


def test_lmcache_server_metrics_split_l1_and_l2():
    snap = counters("lmcache_metrics_after_hit.txt")
    assert snap["lmcache_mp_lookup_hit_l1_tokens_total"] == 3584.0
    assert snap["lmcache_mp_lookup_hit_l2_tokens_total"] == 0.0


def test_delta_counts_a_new_series_from_zero():
    assert delta({}, {"x_total": 5.0}) == {"x_total": 5.0}


PENDING = CallRecord(question_id=1, question="q", ttft_ms=500.0, total_ms=900.0, prompt_tokens=4000, completion_tokens=10,
                     cached_tokens=3840, answer="a", layout="manual_first", static_prefix_tokens=3870)  # fmt: skip


def test_call_record_rates():
    rec = PENDING.with_hits({"device_hit_tokens": 0, "lmcache_hit_tokens": 3840}).row()
    assert list(rec) == columns()
    assert rec["hit_rate"] == 0.96
    assert rec["lmcache_hit_rate"] == 0.96
    assert rec["device_hit_rate"] == 0.0


def test_call_record_without_metrics_leaves_the_source_unknown():
    rec = PENDING.with_hits(None).row()
    assert rec["hit_rate"] == 0.96
    assert rec["lmcache_hit_tokens"] is None and rec["lmcache_hit_rate"] is None


def test_lmcache_tiers_count_only_when_vllm_took_the_tokens_from_lmcache():
    server = {"lmcache_mp_lookup_hit_l1_tokens_total": 1536.0, "lmcache_mp_lookup_hit_l2_tokens_total": 0.0}
    from_lmcache = hit_tokens({EXTERNAL_HITS: 1536.0}, server)
    assert (from_lmcache["lmcache_l1_hit_tokens"], from_lmcache["lmcache_l2_hit_tokens"]) == (1536, 0)
    # vLLM's own cache served the call although LMCache's lookup found the chunks too.
    from_device = hit_tokens({"vllm:prefix_cache_hits_total": 1536.0, EXTERNAL_HITS: 0.0}, server)
    assert from_device["lmcache_l1_hit_tokens"] == 0 and from_device["device_hit_tokens"] == 1536


def test_without_the_lmcache_server_the_tier_is_unknown():
    assert hit_tokens({EXTERNAL_HITS: 1536.0})["lmcache_l1_hit_tokens"] is None
