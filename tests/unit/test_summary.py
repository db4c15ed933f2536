"""Summary maths on a recorded results table."""

import pandas as pd

from experiments.scenarios.cold_hit import ColdHit
from experiments.analysis.summary import reduction, variant_table


def results() -> pd.DataFrame:
    return pd.DataFrame({
        "scenario": ["cold_hit"] * 6,
        "variant": ["cold", "hit", "hit", "cold", "hit", "hit"],
        "ttft_ms": [10_000, 400, 500, 12_000, 450, 600],
        "prompt_tokens": [4000] * 6,
        "cached_tokens": [0, 3840, 3840, 0, 3840, 3840],
        "hit_rate": [0, 0.96, 0.96, 0, 0.96, 0.96],
        "device_hit_rate": [0.0] * 6,
        "lmcache_hit_rate": [0, 0.96, 0.96, 0, 0.96, 0.96],
    })  # fmt: skip


def test_reduction_compares_medians():
    assert reduction(results(), "cold_hit", "cold", "hit") == round(1 - 475 / 11_000, 4)


def test_variant_table_has_one_row_per_variant():
    table = variant_table(results())
    assert list(table["variant"]) == ["cold", "hit"]
    assert table.set_index("variant").loc["hit", "calls"] == 4


def test_cold_hit_check_fails_below_the_expected_reduction():
    comparison = ColdHit().comparison(results())
    assert ColdHit().check(comparison, 0.70) is None
    assert "below the expected 99%" in ColdHit().check(comparison, 0.99)
