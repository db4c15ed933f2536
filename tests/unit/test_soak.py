"""The soak scenario's judgement, on recorded-shape samples: flat is a pass, drift and leftovers fail."""

import pandas as pd

from experiments.scenarios.soak.scenario import MIN_SAMPLES_PER_WINDOW, Soak, SoakPlan, drift, tenths


def compared(rss_end: float, hit_end_ms: float, left: list[str] | None = None, every_s: float = 0.5) -> dict:
    """A 100 s soak sampled (and a hit finished) every ``every_s`` seconds: memory and hit TTFT flat to
    40 s, then rising linearly to ``rss_end`` MiB and ``hit_end_ms``."""
    plan = SoakPlan([], duration_s=100, disk_bound_mib=None, stacks=None)
    plan.observed.update(servers=["vllm", "lmcache"], left_behind=left or [])
    t = pd.Series([i * every_s for i in range(int(100 / every_s) + 1)]) + 1e9
    rise = ((t - t.min() - 40) / 60).clip(lower=0)
    plan.observed["samples"] = pd.DataFrame({"t": t, "vllm_rss_mib": 1000 + (rss_end - 1000) * rise, "lmcache_rss_mib": 500.0,
                                             "vllm_fds": 40, "lmcache_fds": 30, "disk_mib": 10.0, "shm_used_mib": 700.0})  # fmt: skip
    calls = pd.DataFrame({"scenario": "soak", "variant": "hit", "started_at": t, "total_ms": 100.0,
                          "ttft_ms": 100 + (hit_end_ms - 100) * rise})  # fmt: skip
    return Soak().comparison(calls, plan)


def soaked(rss_end: float, hit_end_ms: float, left: list[str] | None = None, every_s: float = 0.5) -> str | None:
    return Soak().check(compared(rss_end, hit_end_ms, left, every_s), None)


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


def test_a_drift_on_too_few_samples_per_window_is_not_judged_and_says_so_with_the_figure():
    # Sampled every 5 s, each tenth of 100 s holds two samples and two hits: below the minimum.
    c = compared(rss_end=1300, hit_end_ms=200, every_s=5)
    assert c["samples_per_window"][1] < MIN_SAMPLES_PER_WINDOW and c["hits_per_window"][1] < MIN_SAMPLES_PER_WINDOW
    assert Soak().check(c, None) is None  # exit 0
    memory, hits = Soak().summary_lines(c)[:2]
    assert "vllm +" in memory and "too few samples" in memory and f"{MIN_SAMPLES_PER_WINDOW} needed in each" in memory
    assert "hit TTFT p95" in hits and "%" in hits and "too few samples" in hits


def test_enough_samples_per_window_are_judged_and_named_as_such():
    c = compared(rss_end=1040, hit_end_ms=110)
    assert min(c["samples_per_window"] + c["hits_per_window"]) >= MIN_SAMPLES_PER_WINDOW
    assert not any("too few" in line for line in Soak().summary_lines(c))


def test_leftovers_fail_even_when_the_drift_has_too_few_samples():
    assert "left behind after down" in soaked(1000, 100, ["/dev/shm/psm_0b199de2"], every_s=5)
