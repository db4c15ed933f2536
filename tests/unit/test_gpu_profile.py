"""The gpu profile: one setting turns the same stack into vLLM's CUDA build with LMCache inside it.

These tests pin the command line and environment the launcher gives vLLM, which is all that differs
from the cpu profile; the GPU runs (experiments/gpu/run_gpu.sh) check that they serve.
"""

import json

import pytest

from experiments.run.stacks import Stacks
from experiments.scenarios.base import ScenarioOptions
from experiments.scenarios.tiers import Tiers
from graphs.context import Context
from lab.errors import UserError
from lab.profile import cpu_tier_gib
from lab.settings import resolve
from serving.model import resolve_model_dir
from serving.recipes import plan
from serving.settings import StackSettings


def gpu_settings(**kw) -> StackSettings:
    return resolve(StackSettings, {"profile": "gpu", "model_dir": "/models/llama-8b", **kw})


def arg(service, flag: str) -> str:
    return service.argv[service.argv.index(flag) + 1]


def test_gpu_profile_serves_one_vllm_with_lmcache_inside_it():
    (vllm,) = plan(gpu_settings(load_format="dummy", attention_backend="FLASH_ATTN"), "/models/llama-8b")
    assert vllm.name == "vllm" and arg(vllm, "--model") == "/models/llama-8b"
    assert json.loads(arg(vllm, "--kv-transfer-config")) == {"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both"}
    assert arg(vllm, "--gpu-memory-utilization") == "0.9"  # vLLM sizes its KV cache from the card's memory
    assert arg(vllm, "--load-format") == "dummy" and arg(vllm, "--attention-backend") == "FLASH_ATTN"
    assert arg(vllm, "--max-model-len") == "32768"


def test_gpu_profile_serves_as_production_does_cuda_graphs_and_vllms_cache_in_front_of_lmcache():
    (vllm,) = plan(gpu_settings(), "/models/llama-8b")
    assert "--enforce-eager" not in vllm.argv and "--no-enable-prefix-caching" not in vllm.argv
    assert json.loads(arg(vllm, "--kv-transfer-config"))["kv_connector"] == "LMCacheConnectorV1"


def test_eager_and_the_lmcache_only_measurement_are_one_setting_each(monkeypatch):
    monkeypatch.setenv("LMLAB_ENFORCE_EAGER", "true")
    monkeypatch.setenv("LMLAB_PREFIX_CACHING", "false")
    (vllm,) = plan(gpu_settings(), "/models/llama-8b")
    assert "--enforce-eager" in vllm.argv and "--no-enable-prefix-caching" in vllm.argv


def test_lmcaches_cpu_tier_is_a_quarter_of_the_host_memory():
    assert cpu_tier_gib(128 * 2**30) == 32.0
    assert cpu_tier_gib(2 * 2**30) == 2.0  # never below 2 GiB
    assert gpu_settings().lmcache_l1_gib == cpu_tier_gib()


def test_lmcache_is_configured_through_its_environment_variables():
    (vllm,) = plan(gpu_settings(), "/models/llama-8b")
    assert vllm.env["LMCACHE_CHUNK_SIZE"] == "256"
    assert vllm.env["LMCACHE_LOCAL_CPU"] == "True" and vllm.env["LMCACHE_MAX_LOCAL_CPU_SIZE"] == str(cpu_tier_gib())
    assert "LMCACHE_LOCAL_DISK" not in vllm.env  # no disk tier unless LMLAB_DISK_DIR names one
    assert not any(k.startswith("VLLM_CPU_") for k in vllm.env)


def test_a_disk_folder_adds_lmcaches_disk_tier(tmp_path):
    (vllm,) = plan(gpu_settings(disk_dir=str(tmp_path)), "/models/llama-8b")
    assert vllm.env["LMCACHE_LOCAL_DISK"] == f"file://{tmp_path}/"


def test_the_cpu_profile_is_unchanged(tmp_path):
    lmcache, vllm = plan(StackSettings(disk_dir=str(tmp_path)), tmp_path)
    assert lmcache.name == "lmcache" and vllm.env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert "--gpu-memory-utilization" not in vllm.argv and not any(k.startswith("LMCACHE_") for k in vllm.env)


def test_one_environment_variable_selects_the_profile_and_its_defaults(monkeypatch):
    monkeypatch.setenv("LMLAB_PROFILE", "gpu")
    monkeypatch.setenv("LMLAB_MODEL_DIR", "meta-llama/Llama-3.1-8B-Instruct")
    s = resolve(StackSettings)
    assert (s.profile, s.max_model_len, s.lmcache_l1_gib, s.disk_path) == ("gpu", 32768, cpu_tier_gib(), None)
    assert (s.enforce_eager, s.prefix_caching) == (False, True)
    assert s.served_model_name == "Llama-3.1-8B-Instruct"
    assert resolve(Context).manual_tokens == 32000


def test_settings_the_user_gave_win_over_the_profile(monkeypatch):
    monkeypatch.setenv("LMLAB_PROFILE", "gpu")
    monkeypatch.setenv("LMLAB_MAX_MODEL_LEN", "16384")
    monkeypatch.setenv("LMLAB_MANUAL_TOKENS", "8000")
    monkeypatch.setenv("LMLAB_SERVED_MODEL_NAME", "llama")
    s = resolve(StackSettings, {"model_dir": "/models/llama-8b", "lmcache_l1_gib": 5})
    assert (s.max_model_len, s.lmcache_l1_gib, s.served_model_name) == (16384, 5, "llama")
    assert resolve(Context).manual_tokens == 8000


def test_lmcache_has_no_server_of_its_own_on_gpu():
    s = gpu_settings()
    assert s.lmcache_urls() == [] and set(s.ports()) == {"vllm_port"}
    assert s.memory_estimate_gib() == 3 + cpu_tier_gib()  # host memory: vLLM and LMCache's CPU tier; the KV cache is on the GPU


def test_an_unknown_profile_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("LMLAB_PROFILE", "tpu")
    with pytest.raises(UserError, match="LMLAB_PROFILE='tpu' is not a profile; use one of cpu, gpu"):
        resolve(StackSettings)


def test_what_the_gpu_profile_does_not_wire_yet_is_refused():
    with pytest.raises(UserError, match="use LMLAB_PROFILE=cpu for the sharing scenario"):
        gpu_settings(redis=True)


def test_the_gpu_profile_needs_a_model_and_accepts_a_hub_id(tmp_path):
    with pytest.raises(UserError, match="set LMLAB_MODEL_DIR to a model folder or a hub id"):
        resolve_model_dir("", hub_ids=True)
    assert resolve_model_dir("meta-llama/Llama-3.1-8B-Instruct", hub_ids=True) == "meta-llama/Llama-3.1-8B-Instruct"
    with pytest.raises(UserError, match="has no config.json"):
        resolve_model_dir(str(tmp_path), hub_ids=True)


@pytest.mark.parametrize(("disk_dir", "tiers"), [
    ("off", ["cold", "vllm_cache", "lmcache_l1"]),
    ("", ["cold", "vllm_cache", "lmcache_l1", "lmcache_disk"]),
])  # fmt: skip
def test_tiers_skips_the_disk_step_on_a_stack_without_a_disk_tier(disk_dir, tiers):
    opts = ScenarioOptions(run_id="r", questions=1, repeats=1, context=Context(), stacks=Stacks(StackSettings(disk_dir=disk_dir)))
    assert [s.variants[0] for s in Tiers().sessions(opts)] == tiers
