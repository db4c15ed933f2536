"""The soak scenario's judgement, on recorded-shape samples: flat is a pass, drift and leftovers fail."""

import pandas as pd

from experiments.scenarios.soak.scenario import Soak, SoakPlan, drift, tenths


def soaked(rss_end: float, hit_end_ms: float, left: list[str] | None = None) -> dict:
    soak = Soak()
    plan = SoakPlan([], duration_s=100, disk_bound_mib=None, stacks=None)
    plan.observed.update(servers=["vllm", "lmcache"], left_behind=left or [])
    t = pd.Series(range(0, 101, 5), dtype=float) + 1e9
    rss = [1000.0] * 10 + [1000 + (rss_end - 1000) * i / 10 for i in range(11)]
    plan.observed["samples"] = pd.DataFrame({"t": t, "vllm_rss_mib": rss, "lmcache_rss_mib": 500.0, "vllm_fds": 40, "lmcache_fds": 30,
                                 "disk_mib": 10.0, "shm_used_mib": 700.0})  # fmt: skip
    calls = pd.DataFrame({"scenario": "soak", "variant": "hit", "started_at": t, "total_ms": 100.0,
                          "ttft_ms": [100.0] * 10 + [100 + (hit_end_ms - 100) * i / 10 for i in range(11)]})  # fmt: skip
    return soak.check(soak.comparison(calls, plan), None)


def test_a_flat_run_passes():
    assert soaked(rss_end=1040, hit_end_ms=110) is None


def test_memory_growing_past_ten_percent_fails_naming_the_server():
    assert "vllm private memory moved +" in soaked(rss_end=1300, hit_end_ms=100)


def test_hit_ttft_p95_growing_past_twenty_percent_fails():
    assert "hit TTFT p95 grew" in soaked(rss_end=1000, hit_end_ms=200)


def test_anything_left_behind_fails():
    assert "left behind after down: /dev/shm/psm_0b199de2" in soaked(1000, 100, ["/dev/shm/psm_0b199de2"])


def test_windows_are_the_tenth_after_warm_up_and_the_last_tenth():
    first, last = tenths(pd.Series([0.0, 10, 30, 50, 95, 100]))
    assert list(first) == [False, False, True, False, False, False]  # 25..35: after the first quarter
    assert list(last) == [False, False, False, False, True, True]
    assert drift(pd.Series([100.0]), pd.Series([110.0])) == 0.1


def test_sparse_samples_still_give_a_window_after_warm_up():
    # Three samples 6 s apart: the tenth after warm-up (3.0..4.2 s) holds none, so it is the 6 s one.
    first, last = tenths(pd.Series([0.0, 6, 12]))
    assert list(first) == [False, True, False] and list(last) == [False, False, True]
