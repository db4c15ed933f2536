"""The capacity scenario's plan and judgement, on made-up rows: sizes, orders, hit rates, the
working set kept at >= 90% and the pass marks."""

import pandas as pd
import pytest

from experiments.scenarios.capacity.chart import capacity_points
from experiments.scenarios.capacity.analysis import checks, kept_table, per_step
from experiments.scenarios.capacity.scenario import config_settings, default_sizes, parse_list, zipf_order
from lab.errors import UserError
from serving.settings import StackSettings


def rows(config: str, hits: dict[int, float], prefix: int = 520) -> list[dict]:
    """One rotation call per W, cached share as given."""
    return [{"scenario": "capacity", "tier": config, "working_set_manuals": w, "working_set_tokens": w * prefix,
             "access_pattern": "round_robin", "rotation_pass": 1, "reusable_tokens": 512, "cached_tokens": int(512 * h),
             "prompt_tokens": 580, "ttft_ms": 100.0 if h else 1000.0, "device_hit_tokens": 0, "lmcache_l1_hit_tokens": None,
             "lmcache_l2_hit_tokens": None} for w, h in hits.items()]  # fmt: skip


HELD = {"vllm_kv": 2.8, "lmcache_l1": 5.0, "lmcache_disk": 10.0}
PREDICTED = {"vllm_only": {"manuals": 2.8}, "lmcache_memory": {"manuals": 5.0}, "lmcache_disk": {"manuals": 10.0}}


def judge(df: pd.DataFrame):
    steps = per_step(df, df)
    kept = kept_table(steps, PREDICTED)
    return steps, kept, checks(steps, kept, {"held": HELD})


def test_default_sizes_cross_every_tier():
    assert default_sizes(HELD) == [1, 2, 3, 5, 6, 10, 11, 14]


def test_zipf_order_is_seeded_and_skewed():
    order = zipf_order(8, 400, "run-8")
    assert order == zipf_order(8, 400, "run-8")
    assert order.count(0) > 3 * order.count(7)


def test_lists_from_the_environment_are_checked():
    assert parse_list("V", "8, 2,2,1") == [1, 2, 8]
    assert parse_list("V", "zipf,round_robin", ("round_robin", "zipf")) == ["round_robin", "zipf"]
    with pytest.raises(UserError, match="manual counts"):
        parse_list("V", "1,x")
    with pytest.raises(UserError, match="use some of"):
        parse_list("V", "lru", ("round_robin", "zipf"))


def test_each_configuration_gets_its_own_stack_from_the_runs_own():
    base = StackSettings(name="capacity-vllm_only", disk_dir="", disk_gib=0.14)
    names = {c: config_settings(base, c) for c in ("vllm_only", "lmcache_memory", "lmcache_disk")}
    assert [s.name for s in names.values()] == ["capacity-vllm_only", "capacity-lmcache_memory", "capacity-lmcache_disk"]
    assert names["vllm_only"] == StackSettings(name="capacity-vllm_only", disk_dir="", disk_gib=0.14, lmcache=False)
    assert names["lmcache_memory"].lmcache and names["lmcache_memory"].disk_path is None
    assert names["lmcache_disk"].disk_path is not None and names["lmcache_disk"].ports() == names["lmcache_memory"].ports()


def test_a_run_that_crosses_where_predicted_passes():
    df = pd.DataFrame(rows("vllm_only", {1: 1, 2: 1, 3: 0.2, 6: 0}) + rows("lmcache_memory", {1: 1, 5: 1, 6: 0})
                      + rows("lmcache_disk", {6: 1, 10: 0.95, 11: 0.1}))  # fmt: skip
    steps, kept, result = judge(df)
    assert [s["hit_rate"] for s in steps if s["config"] == "vllm_only"] == [1.0, 1.0, 0.1992, 0.0]
    table = {k["config"]: (k["kept_manuals"], k["lost_manuals"], k["within_tolerance"]) for k in kept}
    assert table == {"vllm_only": (2, 3, True), "lmcache_memory": (5, 6, True), "lmcache_disk": (10, 11, True)}
    assert kept[0]["kept_tokens"] == 2 * 520
    assert [c["failure"] for c in result] == [None] * len(result)


def test_each_missed_mark_says_what_was_missed():
    df = pd.DataFrame(rows("vllm_only", {1: 1, 6: 0.8}) + rows("lmcache_memory", {1: 1, 3: 0.5}) + rows("lmcache_disk", {8: 1, 20: 0}))
    failures = [c["failure"] for c in judge(df)[2] if c["failure"]]
    assert "vllm_only kept 80% at W=6, 2x past its KV memory" in failures
    assert "lmcache_memory fell to 50% at W=3, up to its capacity" in failures
    assert any("lmcache_memory: predicted 5.0 manuals, measured between 1 and 3" in f for f in failures)
    assert any("lmcache_disk: predicted 10.0 manuals, measured between 8 and 20" in f for f in failures) is False  # within 25% of [8, 20]


def test_the_chart_draws_one_point_per_working_set_size_even_when_editions_differ_by_a_token():
    # At W=11 manuals m0..m9 have a 530-token prefix and m10 one more: two token counts, one step.
    step = rows("lmcache_disk", {11: 1.0}, prefix=530) + rows("lmcache_disk", {11: 0.0}, prefix=531)
    points = capacity_points(pd.DataFrame(rows("lmcache_disk", {5: 1.0}, prefix=530) + step))
    assert points["working_set_manuals"].tolist() == [5, 11]
    assert points["working_set_tokens"].tolist() == [2650, 11 * 530.5]
    assert points["hit"].tolist() == [1.0, 0.5]
