"""Hit accounting: LMCache's own log lines joined to the calls that caused them, and a hit split into
fixed cost, KV load, compute over the cached context and what is left.

The log fixtures are real: ``lmcache_in_vllm.log`` is the start of the H100 run's
``lmcache-requests.log`` (LMCache inside vLLM), ``lmcache_mp_server.log`` lines of the cpu profile's
LMCache server."""

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from experiments.accounting_report import calls_table
from experiments.scenarios.hit_accounting.accounting import account, kv_load_ms, parse_log, same_request, split_hit, spread
from experiments.scenarios.hit_accounting.scenario import AccountingParams, planned_sizes
from lab.settings import resolve_params
from lab.errors import UserError

FIXTURES = Path(__file__).parent.parent / "fixtures"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_lmcache_inside_vllm_logs_each_retrieve_and_store_under_the_request_id():
    events = parse_log((FIXTURES / "lmcache_in_vllm.log").read_text().splitlines())
    assert [e.kind for e in events] == ["store", "retrieve", "retrieve", "retrieve", "retrieve", "store"]
    first_hit = events[1]
    assert first_hit.request_id == "chatcmpl-8411ada2cbe4622d-b84fd4b9"
    assert (first_hit.tokens, first_hit.cost_ms, first_hit.gb) == (7936, 11.7867, 0.9688)
    assert first_hit.at == at("2026-11-27 12:52:41.865")


def test_a_call_is_joined_on_its_response_id_which_vllm_extends_with_a_suffix():
    events = parse_log((FIXTURES / "lmcache_in_vllm.log").read_text().splitlines())
    assert same_request("chatcmpl-8411ada2cbe4622d-b84fd4b9", "chatcmpl-8411ada2cbe4622d")
    assert not same_request("chatcmpl-8411ada2cbe4622d-b84fd4b9", "chatcmpl-8411ada2")
    anywhen = (at("2000-01-01"), at("2000-01-01"))  # the window is not used when the log names requests
    assert kv_load_ms(events, "chatcmpl-976b6a44388efbc8", *anywhen) == 16.7157
    assert kv_load_ms(events, "chatcmpl-b86c5d61001d824b", *anywhen) is None  # the cold call only stored


def test_the_cache_servers_log_names_no_request_so_a_call_takes_the_retrieve_in_its_window():
    events = parse_log((FIXTURES / "lmcache_mp_server.log").read_text().splitlines())
    assert [(e.kind, e.tokens, e.cost_ms) for e in events] == [("store", 2048, 90.0), ("store", 1792, 47.0),
                                                              ("retrieve", 3840, 64.0), ("store", 2048, 60.0)]  # fmt: skip
    r = events[2]
    assert r.request_id is None and r.at == at(
        "2026-12-02 04:40:40.398"
    )  # colour codes and all, as the server writes it
    assert (
        kv_load_ms(events, "chatcmpl-whatever", r.at.replace(microsecond=0), r.at.replace(microsecond=999999))
        == r.cost_ms
    )
    assert kv_load_ms(events, None, at("2000-01-01"), at("2000-01-02")) is None


def test_other_lines_are_ignored():
    assert (
        parse_log(["(APIServer pid=1) INFO 11-27 12:52:40 [loggers.py:1] Engine 000: Avg prompt throughput", ""]) == []
    )


def test_a_hit_splits_into_fixed_cost_kv_load_compute_and_the_rest():
    split = split_hit(
        lmcache_hits_ms=[110, 100, 130], kv_loads_ms=[50, 52, 48], device_hits_ms=[45, 40, 50], suffix_ms=[20, 18, 22]
    )
    assert (split.hit_ms, split.fixed, split.kv_load, split.compute) == (110, 20, 50, 25)
    assert split.rest == 15 and split.adds_up  # 15 of 110 ms = 13.6%, within 15%
    assert split.as_dict()["rest_share"] == 0.1364


def test_a_hit_the_parts_do_not_explain_is_flagged():
    split = split_hit([200], [50], [45], [20])
    assert split.rest == 105 and not split.adds_up


def test_the_spread_between_stacks_is_max_over_min():
    assert spread([100, 150, 120]) == 0.5
    assert spread([100]) is None and spread([100, None]) is None


def calls_frame() -> pd.DataFrame:
    rows = []
    for stack, (hit, load_id) in enumerate(
        [(100.0, "chatcmpl-976b6a44388efbc8"), (130.0, "chatcmpl-8411ada2cbe4622d")]
    ):
        for variant, ttft, rid, dev, lmc in [("cold", 300.0, "chatcmpl-cold", 0, 0), ("device_hit", 50.0, "chatcmpl-dev", 7900, 0),
                                             ("lmcache_hit", hit, load_id, 0, 7936), ("suffix_only", 20.0, "chatcmpl-sfx", 0, 0)]:  # fmt: skip
            rows.append({"stack": stack, "size": 8000, "repeat": 0, "variant": variant, "response_id": rid, "ttft_ms": ttft,
                         "prompt_tokens": 7995, "cached_tokens": dev + lmc, "device_hit_tokens": dev, "lmcache_hit_tokens": lmc,
                         "started": "2026-11-27T12:52:00", "ended": "2026-11-27T12:52:01"})  # fmt: skip
    return pd.DataFrame(rows)


def test_account_joins_each_hit_to_its_retrieve_and_reports_the_spread_between_stacks():
    events = parse_log((FIXTURES / "lmcache_in_vllm.log").read_text().splitlines())
    figures = account(calls_frame(), events, {1: 95.0})
    per = figures["sizes"]["8000"]
    s0, s1 = per["stacks"]["0"], per["stacks"]["1"]
    assert (s0["kv_load"], s1["kv_load"]) == (16.7, 11.8)
    assert (s0["fixed"], s0["compute"]) == (20.0, 30.0)
    assert s0["device_hit_verified"] and s0["lmcache_hit_verified"]
    assert per["hit_spread"] == 0.3 and figures["startup_s"] == {"1": 95.0}


def test_sizes_come_from_the_variable_or_the_manual_budget():
    def params(env: dict) -> AccountingParams:
        return resolve_params(AccountingParams, env=env)[0]

    assert planned_sizes(params({}), 8000) == [8000]
    assert planned_sizes(params({"LMLAB_ACCOUNTING_SIZES": "31000, 8000,16000"}), 8000) == [8000, 16000, 31000]
    with pytest.raises(UserError, match="LMLAB_ACCOUNTING_SIZES='8k' is not a comma-separated list"):
        planned_sizes(params({"LMLAB_ACCOUNTING_SIZES": "8k"}), 8000)


def test_results_rows_become_the_calls_table_with_stack_size_repeat_and_the_calls_window():
    rows = pd.DataFrame({
        "session": ["hit_accounting-s1-16000-r2", "hit_accounting-s1-16000-r2-lmcache", "hit_accounting-s0-8000-r0-suffix"],
        "variant": ["cold", "lmcache_hit", "suffix_only"], "response_id": ["chatcmpl-a", "chatcmpl-b", None],
        "ttft_ms": [500.0, 100.0, 20.0], "total_ms": [600.0, 250.0, 40.0], "started_at": [1796187467.0, 1796187468.0, 1796187469.0],
        "prompt_tokens": [15919, 15920, 48], "cached_tokens": [0, 15872, 0], "device_hit_tokens": [0, 0, 0], "lmcache_hit_tokens": [0, 15872, 0],
    })  # fmt: skip
    calls = calls_table(rows)
    assert list(zip(calls["stack"], calls["size"], calls["repeat"], strict=True)) == [
        (1, 16000, 2),
        (1, 16000, 2),
        (0, 8000, 0),
    ]
    window = datetime.fromisoformat(calls["ended"][1]) - datetime.fromisoformat(calls["started"][1])
    assert window.total_seconds() == 0.25 and calls["response_id"][2] == ""
