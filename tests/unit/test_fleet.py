"""A fleet: the router's command line, the sharing modes' plans, which instance served a call (from
recorded /metrics), and the grid's analysis and pass mark on recorded rows."""

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments.scenarios.fleet.grid import grid, round_robin_alone_share
from experiments.scenarios.fleet.scenario import DEFAULT_CELLS, FleetParams, FleetPlan, FleetScenario, cell_settings, parse_cells
from lab.errors import UserError
from metrics.attribution import UNKNOWN, hit_source, serving_instance
from metrics.prometheus import parse_counters
from serving.launcher import start_waves
from serving.recipes import plan
from serving.settings import StackSettings

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fleet(**kw) -> StackSettings:
    return StackSettings(**{"name": "t", "instances": 2, "vllm_port": 9100, "lmcache_port": 9200, "lmcache_http_port": 9300,
                            "router_port": 9400, **kw})  # fmt: skip


def by_name(settings: StackSettings) -> dict:
    return {s.name: s for s in plan(settings, "/models/m")}


# ----- the router as a service -----


def test_the_router_starts_last_in_front_of_every_instance_with_its_policy():
    services = plan(fleet(router="consistent_hash"), "/models/m")
    assert [s.name for s in services] == ["lmcache", "vllm", "lmcache-1", "vllm-1", "router"]
    router = services[-1]
    argv = router.argv
    assert argv[0].endswith("vllm-router")
    workers = argv[argv.index("--worker-urls") + 1 : argv.index("--policy")]
    assert workers == ["http://127.0.0.1:9100", "http://127.0.0.1:9101"]
    assert argv[argv.index("--policy") + 1] == "consistent_hash"
    # Its Prometheus exporter gets a port of its own: the default (29000) would collide between stacks.
    assert argv[argv.index("--prometheus-port") + 1] == "9401"
    assert router.port == 9400 and router.health_url == "http://127.0.0.1:9400/health"


def test_a_fleet_starts_in_waves_redis_then_every_lmcache_beside_its_vllm_then_the_router():
    names = [[s.name for s in wave] for wave in start_waves(plan(fleet(router="round_robin", sharing="redis"), "/models/m"))]
    assert names == [["redis"], ["lmcache", "vllm", "lmcache-1", "vllm-1"], ["router"]]
    assert [[s.name for s in w] for w in start_waves(plan(fleet(), "/models/m"))] == [["lmcache", "vllm", "lmcache-1", "vllm-1"]]


def test_with_a_router_the_stack_endpoint_is_the_router_and_its_ports_are_checked():
    s = fleet(router="round_robin")
    assert s.endpoint == "http://127.0.0.1:9400/v1"
    assert s.endpoints() == ["http://127.0.0.1:9100/v1", "http://127.0.0.1:9101/v1"]
    assert {"router_port": 9400, "router_metrics_port": 9401}.items() <= s.ports().items()
    assert fleet().endpoint == "http://127.0.0.1:9100/v1" and "router_port" not in fleet().ports()


def test_behind_a_router_every_instance_publishes_kv_events_and_kv_aware_reads_them():
    def events_endpoint(vllm):
        return json.loads(vllm.argv[vllm.argv.index("--kv-events-config") + 1])["endpoint"]

    kv = by_name(fleet(router="kv_aware"))
    # vLLM binds only endpoints with "*" or "::": the IPv4-mapped loopback binds 127.0.0.1 alone.
    assert [events_endpoint(kv[n]) for n in ("vllm", "vllm-1")] == ["tcp://[::ffff:127.0.0.1]:9402", "tcp://[::ffff:127.0.0.1]:9403"]
    argv = kv["router"].argv
    sources = [argv[i + 1] for i, a in enumerate(argv) if a == "--kv-event-source"]
    assert sources == ["http://127.0.0.1:9100=tcp://127.0.0.1:9402", "http://127.0.0.1:9101=tcp://127.0.0.1:9403"]
    # The router hashes each request in vLLM's blocks, as vLLM's events carry them; it renders the
    # request on every worker (--enable-scale-out serves /render).
    assert argv[argv.index("--kv-event-block-size") + 1] == "128"
    assert kv["vllm"].argv[kv["vllm"].argv.index("--block-size") + 1] == "128" and "--enable-scale-out" in kv["vllm"].argv
    assert {"kv_events_port": 9402, "kv_events_port + 1": 9403}.items() <= fleet(router="kv_aware").ports().items()
    # Other policies: the publishers still run (a switch to kv_aware then restarts the router alone), unread.
    rr = by_name(fleet(router="round_robin"))
    assert events_endpoint(rr["vllm"]) == "tcp://[::ffff:127.0.0.1]:9402" and "--kv-event-source" not in rr["router"].argv
    assert "--kv-events-config" not in by_name(fleet())["vllm"].argv  # no router, no events
    # Off loopback, the publisher binds the stack's address; a host name binds every interface.
    assert fleet(router="kv_aware", host="10.0.0.5", api_key="k").kv_events_bind(1) == "tcp://[::ffff:10.0.0.5]:9403"
    assert fleet(router="kv_aware", host="0.0.0.0", api_key="k").kv_events_bind(0) == "tcp://*:9402"


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"router": "fastest"}, "LMLAB_ROUTER='fastest' is not a vllm-router policy"),
        ({"sharing": "cluster"}, "LMLAB_SHARING='cluster' is not a sharing mode"),
        ({"instances": 0}, "LMLAB_INSTANCES=0 must be at least 1"),
        ({"sharing": "node", "lmcache": False}, "LMLAB_SHARING=node shares LMCache"),
    ],
)
def test_bad_fleet_settings_are_refused_with_one_message(kw, words):
    with pytest.raises(UserError, match=words):
        fleet(**kw)


# ----- sharing modes -----


def test_none_each_instance_has_its_own_lmcache_server_and_disk():
    services = by_name(fleet(sharing="none"))
    assert '"lmcache.mp.port": 9200' in " ".join(services["vllm"].argv)
    assert '"lmcache.mp.port": 9201' in " ".join(services["vllm-1"].argv)
    assert "redis" not in services and '"type": "fs"' in " ".join(services["lmcache-1"].argv)


def test_node_every_instance_joins_one_lmcache_server():
    s = fleet(sharing="node")
    services = by_name(s)
    assert [n for n in services if n.startswith("lmcache")] == ["lmcache"]
    for name in ("vllm", "vllm-1"):
        assert '"lmcache.mp.port": 9200' in " ".join(services[name].argv)
    assert s.lmcache_urls() == ["http://127.0.0.1:9300", "http://127.0.0.1:9300"]
    assert "lmcache_port + 1" not in s.ports()
    # One L1 pool instead of two.
    assert s.memory_estimate_gib() == fleet(sharing="none").memory_estimate_gib() - s.lmcache_l1_gib


def test_redis_each_server_gets_redis_as_l2_and_redis_true_is_the_same_setting():
    services = by_name(fleet(sharing="redis", redis_port=9500))
    assert "redis" in services
    for name in ("lmcache", "lmcache-1"):
        assert '"type": "resp", "host": "127.0.0.1", "port": 9500' in " ".join(services[name].argv)
    assert fleet(redis=True).sharing == "redis" and fleet(sharing="redis").redis


def test_a_redis_cell_drops_the_disk_tier_so_every_l2_hit_is_redis():
    base = fleet(router="round_robin")
    redis = cell_settings(base, "round_robin", "redis")
    assert redis.disk_path is None and redis.redis
    back = cell_settings(redis, "consistent_hash", "none")
    assert back.sharing == "none" and not back.redis and back.router == "consistent_hash"


# ----- which instance served a call -----


def counters(name: str) -> dict:
    return parse_counters((FIXTURES / name).read_text())


def test_the_instance_whose_prompt_tokens_moved_served_the_call():
    idle, busy = counters("vllm_metrics_after_cold.txt"), counters("vllm_metrics_after_hit.txt")
    assert serving_instance([idle, idle], [idle, busy], ["vllm", "vllm-1"]) == "vllm-1"
    assert serving_instance([idle, idle], [busy, idle], ["vllm", "vllm-1"]) == "vllm"


def test_two_instances_moving_or_a_missing_snapshot_is_unknown_never_guessed():
    idle, busy = counters("vllm_metrics_after_cold.txt"), counters("vllm_metrics_after_hit.txt")
    assert serving_instance([idle, idle], [busy, busy], ["vllm", "vllm-1"]) == UNKNOWN  # concurrent calls
    assert serving_instance([idle, None], [idle, None], ["vllm", "vllm-1"]) == UNKNOWN  # the one that died may have
    # A dead instance does not hide the survivor that served it.
    assert serving_instance([idle, None], [busy, None], ["vllm", "vllm-1"]) == "vllm"


def test_the_hit_source_follows_the_measured_tier_and_the_sharing_mode():
    assert hit_source("none", 0, 3840, 0) == "own"
    assert hit_source("node", 0, 3840, 0) == "shared_server"
    assert hit_source("redis", 0, 0, 3840) == "redis"
    assert hit_source("none", 0, 0, 3840) == "disk"
    assert hit_source("redis", 0, 0, 0) == "none"  # Redis gone: no row claims a Redis hit
    assert hit_source("none", None, None, None) == UNKNOWN


# ----- the grid -----


def rows(policy: str, sharing: str, sessions: list[list[tuple[str, float]]], error_at: set = frozenset()) -> list[dict]:
    out = []
    for s, calls in enumerate(sessions):
        for q, (instance, rate) in enumerate(calls):
            source = "own" if rate else "none"
            out.append({"scenario": "fleet", "variant": f"{policy}/{sharing}", "session": f"{policy}-{sharing}-r{s}",
                        "question_id": q, "ttft_ms": 4000.0 if not rate else 500.0, "hit_rate": rate, "instance": instance,
                        "hit_source": source, "error": "lost vllm-1" if (s, q) in error_at else ""})  # fmt: skip
    return out


RR_NONE = rows("round_robin", "none", [[("vllm", 0), ("vllm-1", 0), ("vllm", 0.98), ("vllm-1", 0.98), ("vllm", 0.98)]])
RR_NODE = rows("round_robin", "node", [[("vllm", 0), ("vllm-1", 0.98), ("vllm", 0.98), ("vllm-1", 0.98), ("vllm", 0.98)]])
CH_NONE = rows("consistent_hash", "none", [[("vllm-1", 0)] + [("vllm-1", 0.98)] * 4])


def analysed(*cells: list[dict]) -> dict:
    scenario = FleetScenario()
    return scenario.comparison(pd.DataFrame([r for c in cells for r in c]), FleetPlan([], instances=2, questions=5))


def test_round_robin_without_sharing_pays_one_cold_start_per_instance():
    assert round_robin_alone_share(questions=5, instances=2) == 0.75  # q2 lands on the other instance, cold
    assert round_robin_alone_share(questions=2, instances=3) == 0.0


def test_the_grid_per_cell_hit_share_ttft_and_calls_per_instance():
    table = grid(pd.DataFrame(RR_NONE + RR_NODE + CH_NONE)).set_index(["policy", "sharing"])
    assert table.loc[("round_robin", "none"), "hit_share_later"] == 0.75
    assert table.loc[("round_robin", "node"), "hit_share_later"] == 1.0
    assert table.loc[("round_robin", "none"), "calls_per_instance"] == "vllm 3, vllm-1 2"
    assert table.loc[("consistent_hash", "none"), "calls_per_instance"] == "vllm-1 5"
    assert table.loc[("round_robin", "node"), "ttft_p50_later_ms"] == 500.0


def test_failed_calls_are_errors_not_misses():
    failing = rows("round_robin", "node", [[("vllm", 0), ("unknown", 0), ("vllm", 0.98), ("vllm", 0.98), ("vllm", 0.98)]], {(0, 1)})
    cell = grid(pd.DataFrame(failing)).iloc[0]
    assert cell["errors"] == 1 and cell["calls"] == 5 and cell["hit_share_later"] == 1.0


def test_the_pass_mark_holds_for_the_expected_grid():
    assert FleetScenario().check(analysed(RR_NONE, RR_NODE, CH_NONE), None) is None


def test_the_pass_mark_misses_when_a_session_sticky_policy_loses_its_hits():
    bad = rows("consistent_hash", "none", [[("vllm", 0), ("vllm-1", 0), ("vllm", 0.98), ("vllm-1", 0.98), ("vllm", 0.98)]])
    assert "consistent_hash/none hit 75% of questions 2..Q, below 90%" in FleetScenario().check(analysed(RR_NONE, bad), None)


def test_the_pass_mark_misses_when_round_robin_without_sharing_hits_more_than_routing_allows():
    leaky = rows("round_robin", "none", [[("vllm", 0)] + [("vllm-1", 0.98), ("vllm", 0.98)] * 2])
    assert "expected share is 75%" in FleetScenario().check(analysed(leaky), None)


def test_cells_are_chosen_by_name_and_a_bad_cell_is_refused():
    assert parse_cells("round_robin:none, consistent_hash:node") == [("round_robin", "none"), ("consistent_hash", "node")]
    with pytest.raises(UserError, match="'fastest:none' is not a cell"):
        parse_cells("fastest:none")
    with pytest.raises(UserError, match="names no cell"):
        parse_cells(" , ")
    assert ("round_robin", "none") in DEFAULT_CELLS


def test_the_grouped_bar_chart_is_drawn_from_the_rows_alone(tmp_path):
    from experiments.analysis.charts import draw_charts

    written = dict(draw_charts(pd.DataFrame(RR_NONE + RR_NODE + CH_NONE), tmp_path))
    assert "fleet_grid.png" in written and (tmp_path / "fleet_grid.png").stat().st_size > 0


def test_cells_run_mode_by_mode_starting_with_the_layout_the_stack_has(monkeypatch):
    from experiments.run.stacks import Stacks
    from experiments.scenarios.base import ScenarioOptions
    from graphs.context import Context
    from lab.settings import resolve_params

    params, _ = resolve_params(FleetParams, env={"LMLAB_FLEET_CELLS": "round_robin:redis,consistent_hash:none,round_robin:node,round_robin:none"})
    scenario = FleetScenario()
    opts = ScenarioOptions(run_id="r", questions=2, repeats=1, context=Context(), stacks=Stacks(fleet(router="round_robin")), params=params)
    assert [s.variants[0] for s in scenario.sessions(opts)] == [
        "round_robin/none", "consistent_hash/none", "round_robin/redis", "round_robin/node"]  # fmt: skip
