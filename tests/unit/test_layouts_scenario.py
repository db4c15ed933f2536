"""The layouts scenario: its sessions, and its per-layout figures and check on a recorded table."""

import pandas as pd

from experiments.scenarios import create
from experiments.scenarios.base import ScenarioOptions
from graphs.context import Context
from prompts.layouts import LAYOUTS


def test_every_layout_gets_its_own_cold_session_per_repeat():
    opts = ScenarioOptions(run_id="run", questions=4, repeats=2, context=Context())
    sessions = create("layouts").sessions(opts)
    assert len(sessions) == 2 * len(LAYOUTS)
    assert len({s.edition for s in sessions}) == len(sessions), "a fresh manual edition each, so each starts cold"
    for s in sessions:
        assert s.context.layout == s.variants[0] and set(s.variants) == {s.context.layout}
        assert len(s.questions) == len(set(s.questions)) == 4
    same_repeat = [s.questions for s in sessions if s.repeat == 0]
    assert all(q == same_repeat[0] for q in same_repeat), "every layout answers the same questions"


def recorded(friendly_cached: int = 3840, busting_cached: int = 0, note: str = "") -> pd.DataFrame:
    """Two sessions' worth of calls shaped like results.csv (one cold call, then three more each)."""
    rows = []
    for layout, cached, ttft, shared in [("manual_first", friendly_cached, 500, 3880),
                                         ("instructions_first", busting_cached, 14_000, 14),
                                         ("timestamp_system", busting_cached, 14_500, 30)]:  # fmt: skip
        for q in range(4):
            hit = q > 0
            rows.append({
                "scenario": "layouts", "variant": layout, "question_id": q, "prompt_tokens": 3900,
                "ttft_ms": ttft if hit else 14_200, "cached_tokens": cached if hit else 0,
                "hit_rate": (cached if hit else 0) / 3900, "lmcache_hit_tokens": cached if hit else 0,
                "device_hit_tokens": 0, "shared_prefix_tokens": shared if hit else 0,
                "predicted_cached_tokens": shared // 256 * 256 if hit else 0,
                "cache_note": note if (hit and layout == "manual_first") else None,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_figures_cover_questions_two_to_n_and_compare_with_manual_first():
    layouts = create("layouts").comparison(recorded())["layouts"]
    assert layouts["manual_first"]["hit_rate_mean"] == round(3840 / 3900, 4)
    assert layouts["manual_first"]["calls_2_to_n"] == 3
    assert layouts["instructions_first"]["ttft_vs_base"] == 28.0
    assert layouts["timestamp_system"]["ttft_vs_cold"] == round(14_500 / 14_200, 3)
    assert layouts["manual_first"]["prediction_max_error"] == 0


def test_the_check_passes_when_only_manual_first_hits():
    scenario = create("layouts")
    assert scenario.check(scenario.comparison(recorded()), None) is None
    assert scenario.check(scenario.comparison(recorded()), 0.9) is None


def test_the_check_fails_when_manual_first_misses_or_a_busting_layout_hits():
    scenario = create("layouts")
    assert "manual_first hit rate" in scenario.check(scenario.comparison(recorded(friendly_cached=2048)), None)
    assert "instructions_first hit rate" in scenario.check(scenario.comparison(recorded(busting_cached=1024)), None)


def test_the_check_fails_when_manual_first_is_more_than_a_chunk_off_its_prediction():
    scenario = create("layouts")
    failure = scenario.check(scenario.comparison(recorded(note="tokens fewer cached")), None)
    assert "3 manual_first calls were more than one chunk off" in failure
