"""The GPU run's summary: the issue's three checks computed from the run folders it wrote."""

import json

from experiments.gpu.dummy_model import LLAMA_31_8B, kv_bytes_per_token
from experiments.gpu.naming import card_slug, folder_name
from experiments.gpu.summarize import collect, render

VERSIONS = {"vllm": "0.26.0", "lmcache": "0.5.3", "torch": "2.11.0+cu130"}


def write(folder, scenario, variants, comparison):
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(
        {"scenarios": {scenario: {"variants": variants, "comparison": comparison}}, "versions": VERSIONS}))  # fmt: skip


def recorded_run(tmp_path):
    (tmp_path / "pcie.json").write_text(json.dumps({"device": "NVIDIA H100 80GB HBM3", "host_to_device_gb_per_s": 50.0}))
    for tokens, cold, hit in ((8000, 300.0, 90.0), (31000, 1300.0, 170.0)):
        write(tmp_path / f"cold_hit-{tokens}", "cold_hit",
              {"cold": {"calls": 3, "prompt_tokens": tokens + 60}, "hit": {"calls": 12, "prompt_tokens": tokens + 60, "lmcache_hit_rate": 0.99}},
              {"cold_ttft_median_ms": cold, "hit_ttft_median_ms": hit, "ttft_reduction": 1 - hit / cold, "hit_rate_min_on_hits": 0.99})  # fmt: skip
    write(tmp_path / "overhead-31000", "overhead", {"graph_hit": {"cached_tokens": 30976}},
          {"graph_cold_ttft_median_ms": 1300.0, "bare_cold_ttft_median_ms": 1290.0, "graph_hit_ttft_median_ms": 170.0,
           "bare_hit_ttft_median_ms": 168.0, "suffix_only_ttft_median_ms": 50.0,
           "harness_over_bare_cold": 1.008, "harness_over_bare_hit": 1.012})  # fmt: skip
    write(tmp_path / "tiers-31000", "tiers", {},
          {"cold_ttft_median_ms": 1300.0, "vllm_reset_verified": True,
           "vllm_cache": {"ttft_median_ms": 130.0, "ttft_vs_cold": 0.1, "device_hit_tokens": 30976, "lmcache_hit_tokens": 0},
           "lmcache_l1": {"ttft_median_ms": 169.0, "ttft_vs_cold": 0.13, "device_hit_tokens": 0, "lmcache_hit_tokens": 30976}})  # fmt: skip


def test_an_8b_llama_moves_128_kib_of_kv_per_token():
    assert kv_bytes_per_token(LLAMA_31_8B) == 128 * 1024


def test_the_hit_floor_is_the_suffix_alone_plus_the_kv_copy(tmp_path):
    recorded_run(tmp_path)
    fig = collect(tmp_path, LLAMA_31_8B)
    copy_ms = 30976 * 128 * 1024 / 50e9 * 1000  # 81.2 ms of PCIe for 30,976 cached tokens
    assert fig["overhead"]["floor_ms"] == round(50.0 + copy_ms, 1)
    assert fig["overhead"]["graph_hit_over_floor"] == round(170.0 / (50.0 + copy_ms), 3)
    assert fig["tiers"]["rows"]["LMCache CPU tier (vLLM cache reset)"]["over_floor"] == round(169.0 / (50.0 + copy_ms), 3)


def test_cold_hit_rows_come_in_manual_size_order_with_their_cut(tmp_path):
    recorded_run(tmp_path)
    rows = collect(tmp_path, LLAMA_31_8B)["cold_hit"]
    assert [r["manual_tokens"] for r in rows] == [8000, 31000]
    assert round(rows[1]["ttft_cut"], 3) == 0.869


def test_the_report_names_the_card_versions_and_goals(tmp_path):
    recorded_run(tmp_path)
    text = render(collect(tmp_path, LLAMA_31_8B))
    assert "NVIDIA H100 80GB HBM3" in text and "vllm 0.26.0" in text and "lmcache 0.5.3" in text
    assert "| 31,000 | 31,060 | 1,300 ms | 170 ms | 86.9% |" in text
    assert "≤ 1.3" in text and "≤ 1.05" in text


def test_the_results_folder_is_named_after_the_card_it_ran_on():
    assert card_slug("NVIDIA H100 80GB HBM3") == "h100" and card_slug("NVIDIA H200") == "h200"
    assert card_slug("NVIDIA A100-SXM4-40GB") == "a100"
    assert folder_name("NVIDIA H200", {"vllm": "0.26.0", "lmcache": "0.5.3"}, "2026-12-02") == "2026-12-02-h200-vllm0.26.0-lmcache0.5.3"


def test_the_defaults_and_the_lmcache_only_stack_get_a_table_each_with_start_up_and_accounting(tmp_path):
    (tmp_path / "pcie.json").write_text(json.dumps({"device": "NVIDIA H200", "host_to_device_gb_per_s": 55.3}))
    (tmp_path / "startup.tsv").write_text("defaults 158.2\neager,lmcache-only 69.8\n")
    for scenario, stack, hit in (("cold_hit", {"prefix_caching": True, "enforce_eager": False}, 158.0),
                                 ("cold_hit_lmcache", {"prefix_caching": False, "enforce_eager": True}, 234.0)):  # fmt: skip
        folder = tmp_path / f"{scenario}-31000"
        folder.mkdir()
        variants = {"cold": {"calls": 3, "prompt_tokens": 31023}, "hit": {"calls": 12, "prompt_tokens": 31023, "lmcache_hit_rate": 0.0, "device_hit_rate": 1.0}}
        comparison = {"cold_ttft_median_ms": 1350.0, "hit_ttft_median_ms": hit, "ttft_reduction": 1 - hit / 1350, "hit_rate_min_on_hits": 0.999}
        (folder / "summary.json").write_text(json.dumps({"scenarios": {scenario: {"variants": variants, "comparison": comparison}},
                                                         "versions": VERSIONS, "config": {"stack": stack}}))  # fmt: skip
    (tmp_path / "hit_accounting").mkdir()
    split = {"hit_ms": 206.0, "fixed": 24.0, "compute": 116.0, "kv_load": 45.0, "rest": 21.0, "rest_share": 0.102, "adds_up": True, "cold_ms": 1374.0}
    (tmp_path / "hit_accounting" / "accounting.json").write_text(json.dumps(
        {"adds_up_within": 0.15, "startup_s": {"1": 101.0},
         "sizes": {"31000": {"stacks": {"0": split}, "hit_spread": None, "part_spread": {}}}}))  # fmt: skip
    text = render(collect(tmp_path, LLAMA_31_8B))
    assert "| defaults | 158 |" in text and "| eager,lmcache-only | 70 |" in text
    assert "## Cold vs hit through the graph (CUDA graphs, vLLM prefix cache on, LMCache behind it)" in text
    assert "## Cold vs hit through the graph (eager, vLLM prefix cache off: every hit from LMCache's CPU tier)" in text
    assert "| 31,000 | 0 | 206 ms | 24 ms | 116 ms | 45 ms | 21 ms | +10.2% | yes | 1,374 ms |" in text
    assert "Restarts inside the scenario took 101 s (stack 1)." in text


def test_a_runs_manual_size_comes_from_its_rows_and_an_older_folder_from_its_name(tmp_path):
    from experiments.gpu.summarize import _tokens

    new = tmp_path / "cold_hit-latest"
    new.mkdir()
    (new / "results.csv").write_text("scenario,variant,session,question_id,ttft_ms,prompt_tokens,cached_tokens,hit_rate,manual_tokens\n"
                                     "cold_hit,cold,s,0,300,8100,0,0.0,7990\ncold_hit,hit,s,1,80,8110,7936,0.98,7990\n")  # fmt: skip
    assert _tokens(new) == 7990
    old = tmp_path / "cold_hit-16000"
    old.mkdir()
    (old / "results.csv").write_text("scenario,variant,session,question_id,ttft_ms,prompt_tokens,cached_tokens,hit_rate\n"
                                     "cold_hit,cold,s,0,600,16100,0,0.0\n")  # fmt: skip
    assert _tokens(old) == 16000
