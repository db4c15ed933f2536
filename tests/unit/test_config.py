"""Settings: defaults, LMLAB_* environment fallbacks with type conversion, clear errors."""

import pytest

from graphs.context import Context
from lab.settings import describe, resolve, resolve_with_sources
from lab.errors import UserError
from lab.profile import cpu_dtype
from serving.recipes import plan
from serving.settings import StackSettings


def test_defaults_bind_localhost_and_leave_hits_to_lmcache():
    s = StackSettings()
    assert s.host == "127.0.0.1"
    assert s.prefix_caching is False and s.lmcache is True


def test_the_cpu_profile_runs_bfloat16_only_where_the_cpu_has_bf16_instructions(monkeypatch):
    # Without them torch emulates bf16, several times slower than float32 (lab/profile.py).
    assert cpu_dtype({"avx2", "fma"}) == "float32"
    assert cpu_dtype({"avx2", "avx512f", "avx512_bf16"}) == "bfloat16"
    assert cpu_dtype({"amx_bf16"}) == "bfloat16"
    monkeypatch.delenv("LMLAB_DTYPE", raising=False)
    s, sources = resolve_with_sources(StackSettings, profile="cpu")
    assert (s.dtype, sources["dtype"]) == (cpu_dtype(), "profile cpu")
    monkeypatch.setenv("LMLAB_DTYPE", "bfloat16")
    assert resolve(StackSettings).dtype == "bfloat16", "LMLAB_DTYPE still decides"


def test_environment_fills_fields_left_at_default(monkeypatch):
    monkeypatch.setenv("LMLAB_VLLM_PORT", "9001")
    monkeypatch.setenv("LMLAB_PREFIX_CACHING", "yes")
    monkeypatch.setenv("LMLAB_LMCACHE_L1_GIB", "0.5")
    s = resolve(StackSettings)
    assert (s.vllm_port, s.prefix_caching, s.lmcache_l1_gib) == (9001, True, 0.5)


def test_explicit_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("LMLAB_MODEL", "other")
    assert resolve(Context, {"model": "mine"}).model == "mine"
    assert resolve(Context).model == "other"


@pytest.mark.parametrize(("var", "value", "words"), [
    ("LMLAB_VLLM_PORT", "eighty", "is not an integer"),
    ("LMLAB_PREFIX_CACHING", "maybe", "is not a boolean"),
    ("LMLAB_LMCACHE_L1_GIB", "lots", "is not a number"),
])  # fmt: skip
def test_bad_environment_values_name_the_variable(monkeypatch, var, value, words):
    monkeypatch.setenv(var, value)
    with pytest.raises(UserError, match=f"{var}='{value}' {words}"):
        resolve(StackSettings)


def test_every_setting_has_a_description():
    for cls in (StackSettings, Context):
        assert all(desc for _name, _env, _default, desc in describe(cls))


def test_plan_starts_lmcache_first_with_shared_memory_and_a_disk_tier(tmp_path):
    s = StackSettings(disk_dir=str(tmp_path))
    lmcache, vllm = plan(s, tmp_path)
    assert lmcache.name == "lmcache" and "--shm-name" in lmcache.argv
    assert any(str(tmp_path) in a for a in lmcache.argv)
    assert "--no-enable-prefix-caching" in vllm.argv and "--enable-prompt-tokens-details" in vllm.argv
    assert "LMCacheMPConnector" in vllm.argv[vllm.argv.index("--kv-transfer-config") + 1]


def test_plan_without_lmcache_is_plain_vllm(tmp_path):
    services = plan(StackSettings(lmcache=False), tmp_path)
    assert [s.name for s in services] == ["vllm"]
    assert "--kv-transfer-config" not in services[0].argv


def test_an_argument_equal_to_the_default_still_beats_the_environment(monkeypatch):
    monkeypatch.setenv("LMLAB_MAX_TOKENS", "8")
    assert resolve(Context, {"max_tokens": 32}).max_tokens == 32


def test_each_setting_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv("LMLAB_VLLM_PORT", "9001")
    s, sources = resolve_with_sources(StackSettings, {"name": "mine"}, overrides={"kv_cache_gib": 1}, overrides_source="scenario tiers")
    assert (s.name, s.vllm_port, s.kv_cache_gib) == ("mine", 9001, 1)
    assert sources["name"] == "argument" and sources["vllm_port"] == "LMLAB_VLLM_PORT"
    assert sources["kv_cache_gib"] == "scenario tiers" and sources["host"] == "default"


def test_settings_objects_read_no_environment_and_never_change(monkeypatch):
    monkeypatch.setenv("LMLAB_MODEL", "other")
    ctx = Context()
    assert ctx.model == "smollm2-135m-instruct"
    with pytest.raises(AttributeError):
        ctx.model = "x"  # frozen: what the graph was handed stays what it was handed
