"""fleet_load's table and pass marks, on rows shaped as its results.csv and load_steps.csv hold them."""

import pandas as pd
import pytest

from experiments.scenarios.fleet_load.cells import cells, check
from experiments.scenarios.fleet_load.scenario import FleetLoad, FleetLoadParams, parse_steps
from lab.errors import UserError


def rows(variant: str, step: int, hit_rates: list[float], instances: list[str], ttft: list[float], error_at: int | None = None):
    return [
        {"scenario": "fleet_load", "variant": variant, "load_step": step, "tenant": f"t{i % 2}", "started_at": 100.0 + i,
         "total_ms": 500.0, "ttft_ms": t, "prompt_tokens": 400, "hit_rate": h, "instance": inst,
         "error": "boom" if i == error_at else ""}
        for i, (h, inst, t) in enumerate(zip(hit_rates, instances, ttft))
    ]  # fmt: skip


def test_a_cell_has_percentiles_throughput_hits_and_each_instances_share():
    df = pd.DataFrame(rows("kv_aware/none", 4, [0.0, 0.9, 0.9, 0.9], ["vllm", "vllm-1", "vllm", "unknown"], [900, 100, 120, 110]))
    steps = pd.DataFrame([{"variant": "kv_aware/none", "load_step": 4, "queue_time_mean_ms": 3.5, "router_lookups_hit": 3,
                           "vllm_kv_events": 12, "vllm-1_kv_events": 9}])  # fmt: skip
    (c,) = cells(df, steps, instances=2)
    assert (c["policy"], c["sharing"], c["load_step"], c["calls"], c["errors"]) == ("kv_aware", "none", 4, 4, 0)
    assert c["hit_share"] == 0.75 and c["ttft_p50_ms"] == 115.0
    assert c["calls_per_s"] == round(4 / 3.5, 3)  # 4 calls from the first start to the last end, 3.5 s
    # The unattributed call is counted as such, not given to an instance; the busiest has 2 of a mean 2.
    assert c["unattributed"] == 1 and c["max_share_over_mean"] == 1.0
    assert (c["queue_time_mean_ms"], c["router_lookups_hit"], c["vllm_kv_events"]) == (3.5, 3, 12)


def test_an_error_row_is_an_error_not_a_miss():
    df = pd.DataFrame(rows("round_robin/none", 2, [0.0, 0.9], ["vllm", "vllm-1"], [900, 100], error_at=0))
    (c,) = cells(df, None, instances=2)
    assert c["errors"] == 1 and c["hit_share"] == 1.0


def table(kv_hits: float, rr_hits: float, ch_hits: float, kv_p90: float = 100, rr_p90: float = 900, kv_share: float = 1.1):
    base = {"sharing": "none", "load_step": 4, "max_share_over_mean": 1.0}
    return [{**base, "policy": "round_robin", "hit_share": rr_hits, "ttft_p90_ms": rr_p90},
            {**base, "policy": "consistent_hash", "hit_share": ch_hits, "ttft_p90_ms": 300},
            {**base, "policy": "kv_aware", "hit_share": kv_hits, "ttft_p90_ms": kv_p90, "max_share_over_mean": kv_share},
            {**base, "policy": "round_robin", "load_step": 1, "hit_share": 0.0, "ttft_p90_ms": 5}]  # fmt: skip


@pytest.mark.parametrize(
    "args, words",
    [
        ((0.9, 0.3, 0.5), None),
        ((0.5, 0.3, 0.4), "not twice round_robin/none"),
        ((0.9, 0.3, 0.95), "below consistent_hash/none"),
        ((0.9, 0.3, 0.5, 400), "above a third"),
        ((0.9, 0.3, 0.5, 100, 900, 1.8), "mean share"),
    ],
)
def test_the_marks_are_judged_in_the_highest_load_step(args, words):
    failure = check(table(*args))
    assert failure is None if words is None else words in failure


def test_without_a_kv_aware_cell_nothing_is_judged():
    assert check([r for r in table(0, 0, 0) if r["policy"] != "kv_aware"]) is None


def test_bad_knobs_are_one_line_errors():
    with pytest.raises(UserError, match="LMLAB_LOAD_STEPS"):
        parse_steps("1,x")
    with pytest.raises(UserError, match="LMLAB_LOAD_STEPS"):
        parse_steps("0")
    assert parse_steps("4,1,2,2") == (1, 2, 4)
    with pytest.raises(UserError, match="LMLAB_LOAD_TENANTS must be at least 1"):
        FleetLoadParams(load_tenants=0)


def test_every_cell_runs_with_vllms_prefix_cache_and_no_disk_tier():
    s = FleetLoad.stack_overrides(FleetLoadParams(), "cpu")
    assert (s["prefix_caching"], s["disk_dir"], s["instances"], s["router"], s["sharing"]) == (True, "off", 2, "round_robin", "none")


def test_the_queue_histogram_and_the_routers_results_are_read_from_metrics_text():
    from metrics.prometheus import counters_by_label, histogram_totals

    vllm = ("# TYPE vllm:request_queue_time_seconds histogram\n"
            'vllm:request_queue_time_seconds_bucket{engine="0",le="+Inf"} 3.0\n'
            'vllm:request_queue_time_seconds_sum{engine="0"} 0.12\n'
            'vllm:request_queue_time_seconds_count{engine="0"} 3.0\n')  # fmt: skip
    assert histogram_totals(vllm, "vllm:request_queue_time_seconds") == (0.12, 3.0)
    router = ("# TYPE vllm_router_kv_placement_lookups_total counter\n"
              'vllm_router_kv_placement_lookups_total{result="hit"} 4\n'
              'vllm_router_kv_placement_lookups_total{result="miss"} 1\n')  # fmt: skip
    assert counters_by_label(router, "vllm_router_kv_placement_lookups", "result") == {"hit": 4.0, "miss": 1.0}


def test_a_fleet_runs_the_cell_it_has_first_then_its_sharing_mode_then_mode_by_mode():
    from experiments.scenarios.fleet.scenario import run_order
    from serving.settings import StackSettings

    base = StackSettings(name="t", instances=2, router="round_robin", sharing="none")
    cells = [("round_robin", "redis"), ("cache_aware", "none"), ("round_robin", "node"), ("round_robin", "none"), ("consistent_hash", "node")]
    assert run_order(base, cells) == [("round_robin", "none"), ("cache_aware", "none"), ("round_robin", "redis"),
                                      ("round_robin", "node"), ("consistent_hash", "node")]  # fmt: skip
