"""The capacity model: settings + the model's shape -> tokens (and manuals) per cache tier."""

import json

import pytest

from lab.errors import UserError
from serving.capacity import GIB, ModelShape, model_shape, read_model_shape, tiers
from serving.settings import StackSettings

SMOLLM2 = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "hidden_size": 576}
LLAMA_8B = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096}


def by_name(settings, **kw):
    return {t.name: t for t in tiers(settings, model_shape(SMOLLM2), **kw)}


def test_kv_bytes_per_token_comes_from_the_config():
    assert model_shape(SMOLLM2).kv_bytes_per_token == 2 * 30 * 3 * 64 * 2 == 23040
    # head_dim falls back to hidden_size / heads: Llama-3.1-8B holds 128 KiB of KV per token.
    assert model_shape(LLAMA_8B).kv_bytes_per_token == 128 * 1024
    assert model_shape(SMOLLM2, "float32").kv_bytes_per_token == 46080


def test_one_gib_of_vllm_kv_is_what_vllm_itself_reports_less_its_null_block():
    # vLLM's own log for this model and VLLM_CPU_KVCACHE_SPACE=1: "CPU KV cache size: 46,592 tokens" (364
    # blocks); with 4 blocks it refused a max_model_len of 512: "the estimated maximum model length is 384".
    t = by_name(StackSettings(kv_cache_gib=1, lmcache=False))
    assert list(t) == ["vllm_kv"]
    assert t["vllm_kv"].tokens == 46592 - 128 and t["vllm_kv"].bytes == GIB
    assert by_name(StackSettings(kv_cache_gib=0.011))["vllm_kv"].tokens == 384


def test_lmcache_tiers_keep_whole_chunks_below_the_eviction_watermark():
    t = by_name(StackSettings(lmcache_l1_gib=0.1, disk_dir="/tmp/x", disk_gib=0.2))
    chunk_bytes = 256 * 23040  # 5,898,240 bytes: LMCache's own l1_memory_usage_bytes per chunk
    assert t["lmcache_l1"].tokens == int(0.1 * GIB * 0.8 // chunk_bytes) * 256 == 14 * 256
    assert t["lmcache_disk"].tokens == int(0.2 * GIB * 0.8 // chunk_bytes) * 256 == 29 * 256


def test_an_unbounded_disk_holds_the_free_space_and_no_disk_tier_without_a_folder():
    assert by_name(StackSettings(disk_dir="/tmp/x"), free_disk_bytes=10 * GIB)["lmcache_disk"].tokens == 1820 * 256
    assert "lmcache_disk" not in by_name(StackSettings(disk_dir="off"))


def test_manuals_held_counts_each_tiers_own_units():
    t = by_name(StackSettings(kv_cache_gib=0.04, lmcache_l1_gib=0.1, disk_dir="off"))
    # A 600-token visit takes 5 vLLM blocks (640 tokens) but only 2 LMCache chunks (512 tokens).
    assert t["vllm_kv"].footprint(600) == 640 and t["lmcache_l1"].footprint(600) == 512
    assert t["vllm_kv"].tokens == 1664  # 0.04 GiB -> 14 blocks, 13 usable
    assert t["vllm_kv"].manuals_held(600) == pytest.approx(1664 / 640)
    assert t["lmcache_l1"].manuals_held(600) == pytest.approx(14 * 256 / 512)


def test_gpu_kv_memory_is_unknown_before_vllm_starts():
    t = by_name(StackSettings(profile="gpu", model_dir="/m/llama", disk_dir="off"))
    assert t["vllm_kv"].tokens is None and t["vllm_kv"].manuals_held(1000) is None
    assert t["lmcache_l1"].tokens > 0


def test_a_config_without_the_shape_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="num_hidden_layers"):
        model_shape({"hidden_size": 64})
    with pytest.raises(UserError, match="config.json"):
        read_model_shape(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2))
    assert read_model_shape(tmp_path) == ModelShape(30, 3, 64, 2)
