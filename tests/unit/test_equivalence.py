"""Answer equivalence: LMCache is judged against vLLM's own cache hit; cold differences must be near ties.

The token lists are shaped like recorded ones (runs of 2026-11-27: repeat 0 of the full-size
benchmark flipped '<|im_end|>' and ' It', 0.125 nats apart, on every cached path alike)."""

import json

import pandas as pd

from experiments.scenarios.equivalence import Equivalence

NEAR_TIE = [["The", -0.1, "A", -3.0], ["<|im_end|>", -1.19375, " It", -1.31875]]  # cold: a 0.125-nat tie
FLIPPED = [["The", -0.1, "A", -3.0], [" It", -1.24448, "<|im_end|>", -1.36948]]
CONFIDENT = [["The", -0.01, "A", -6.0], [" cat", -0.02, " dog", -5.0]]
REPLACED = [["The", -0.01, "A", -6.0], [" car", -3.5, " cat", -3.6]]


def rows(cold, cached: dict) -> pd.DataFrame:
    data = [("cold", cold), *cached.items()]
    return pd.DataFrame([{"scenario": "equivalence", "repeat": 0, "variant": v, "answer": "".join(t[0] for t in toks),
                          "answer_logprobs": json.dumps(toks)} for v, toks in data])  # fmt: skip


def test_a_near_tie_flipped_on_every_cached_path_is_noise_not_lmcache():
    c = Equivalence().comparison(rows(NEAR_TIE, {"vllm_cache": FLIPPED, "lmcache_l1": FLIPPED, "lmcache_disk": FLIPPED}))
    assert c["identical_fraction"] == 0.0 and c["lmcache_identical_to_vllm_cache"] == 1.0
    assert c["unexplained_differences"] == 0
    assert c["differences"][0] | {"cold_token": "<|im_end|>", "tier_token": " It", "cold_top2_margin": 0.125} == c["differences"][0]
    assert Equivalence().check(c, 0.95) is None


def test_lmcache_answering_unlike_vllms_own_cache_fails():
    c = Equivalence().comparison(rows(NEAR_TIE, {"vllm_cache": NEAR_TIE, "lmcache_l1": FLIPPED, "lmcache_disk": NEAR_TIE}))
    assert c["lmcache_identical_to_vllm_cache"] == 0.5
    assert "50% of LMCache answers equal vLLM's own cache hit" in Equivalence().check(c, 0.95)


def test_a_confident_token_replaced_is_flagged_as_possible_corruption():
    c = Equivalence().comparison(rows(CONFIDENT, {"vllm_cache": REPLACED, "lmcache_l1": REPLACED, "lmcache_disk": REPLACED}))
    assert c["lmcache_identical_to_vllm_cache"] == 1.0 and c["unexplained_differences"] == 3
    assert "not a near tie" in Equivalence().check(c, 0.95)
