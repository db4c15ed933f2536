"""The size sweep's maths: sizes to run, per-size medians, and the cold and hit TTFT slopes."""

from pathlib import Path

import pandas as pd
import pytest

from experiments.scenarios.sweep import Sweep, fit_slope, parse_sizes, per_size, plan_sizes
from lab.errors import UserError

FIXTURES = Path(__file__).parent.parent / "fixtures"


def line(cold_ms_per_1k: float, hit_ms_per_1k: float) -> pd.DataFrame:
    """A sweep whose TTFT lies exactly on two lines: 2 repeats x 3 sizes x (1 cold + 2 hits)."""
    rows = []
    for r in range(2):
        for size, prompt in [(512, 600), (2048, 2100), (4096, 4200)]:
            for q, variant in enumerate(["cold", "hit", "hit"]):
                per_1k = cold_ms_per_1k if variant == "cold" else hit_ms_per_1k
                rows.append({"scenario": "sweep", "variant": variant, "session": f"sweep-{size}-r{r}",
                             "question_id": q, "prompt_tokens": prompt, "ttft_ms": 100 + per_1k * prompt / 1000})  # fmt: skip
    return pd.DataFrame(rows)


def test_sizes_come_from_a_comma_separated_list():
    assert parse_sizes("512, 1024,4096") == [512, 1024, 4096]


@pytest.mark.parametrize("bad", ["512,lots", "", "0,512", ","])
def test_bad_sizes_are_a_one_line_error_naming_the_variable(bad):
    with pytest.raises(UserError, match="LMLAB_SWEEP_SIZES"):
        parse_sizes(bad)


def test_manual_tokens_becomes_the_largest_size():
    assert plan_sizes([512, 1024, 2048, 4096], 3000) == [512, 1024, 2048, 3000]
    assert plan_sizes([4096, 512, 512], None) == [512, 4096]


def test_per_size_reads_the_size_from_the_session_name():
    table = per_size(line(3000, 10), "sweep")
    assert sorted(table["size"].unique()) == [512, 2048, 4096]
    assert table.set_index(["size", "variant"]).loc[(4096, "hit"), "calls"] == 4


def test_slopes_are_ms_per_1k_prompt_tokens():
    comparison = Sweep().comparison(line(3000, 10))
    assert comparison["cold_slope_ms_per_1k_tokens"] == pytest.approx(3000)
    assert comparison["hit_slope_ms_per_1k_tokens"] == pytest.approx(10)
    assert comparison["cold_intercept_ms"] == pytest.approx(100)
    assert comparison["hit_over_cold_slope"] == pytest.approx(10 / 3000, abs=1e-4)
    assert [s["size"] for s in comparison["sizes"]] == [512, 2048, 4096]
    assert comparison["sizes"][0] == {"size": 512, "prompt_tokens": 600, "cold_ttft_ms": 1900.0, "hit_ttft_ms": 106.0}


def test_one_size_gives_no_slope():
    assert fit_slope(pd.DataFrame({"prompt_tokens": [4000, 4000], "ttft_ms": [1.0, 2.0]})) is None
    one = line(3000, 10)
    comparison = Sweep().comparison(one[one["session"].str.startswith("sweep-512-")])
    assert comparison["cold_slope_ms_per_1k_tokens"] is None and comparison["hit_over_cold_slope"] is None
    assert "too few sizes" in Sweep().check(comparison, 0.9)


def test_check_wants_the_hit_line_much_flatter_than_the_cold_line():
    assert Sweep().check(Sweep().comparison(line(3000, 10)), 0.90) is None
    assert "50.0% of the cold slope, expected at most 10%" in Sweep().check(Sweep().comparison(line(3000, 1500)), 0.90)
    assert Sweep().check(Sweep().comparison(line(3000, 1500)), None) is None


def test_recorded_sweep_cold_grows_with_size_and_hits_stay_flat():
    # A full default sweep recorded on the shared 2-core machine: 8 sizes x 3 repeats x (1 cold + 4 hits).
    comparison = Sweep().comparison(pd.read_csv(FIXTURES / "sweep_results.csv"))
    assert [s["size"] for s in comparison["sizes"]] == [512, 1024, 2048, 3072, 4096, 5120, 6144, 7168]
    assert comparison["cold_slope_ms_per_1k_tokens"] == pytest.approx(5773.24)
    assert comparison["hit_slope_ms_per_1k_tokens"] == pytest.approx(88.47)
    assert comparison["hit_over_cold_slope"] < 0.02
    assert Sweep().check(comparison, Sweep.default_expect) is None
