"""The capacity scenario on real stacks at a tiny size: each configuration crosses its tier where the
capacity model says, the disk tier stays within its bound by evicting, and a disk folder that cannot
be written is refused before anything starts."""

import csv
import json

import pytest

from experiments.scenarios.capacity.scenario import CPU_KV_SCALE, config_settings
from serving.launcher import Stack
from tests.e2e.helpers import assert_one_line_error, own_stack_env, run_cli, settings_from

pytestmark = pytest.mark.e2e
# The sweep took about 23 minutes here (102 calls on three stacks): `make test-all`, not `make test`.
slow = pytest.mark.slow

# Manuals of one 256-token chunk (a visit: 3 vLLM blocks, 1 LMCache chunk). vLLM's KV memory holds 6
# blocks, 5 usable (1.7 manuals; it must hold one 640-token request), LMCache's memory 3 chunks below its eviction watermark, the disk 6.
# The sizes are for bfloat16 KV; CPU_KV_SCALE doubles them where the cpu profile runs float32.
TINY = {
    "LMLAB_MAX_MODEL_LEN": "640", "LMLAB_KV_CACHE_GIB": str(0.0167 * CPU_KV_SCALE),
    "LMLAB_LMCACHE_L1_GIB": str(0.0225 * CPU_KV_SCALE), "LMLAB_DISK_GIB": str(0.045 * CPU_KV_SCALE),
    "LMLAB_CAPACITY_SIZES": "1,3,5,8", "LMLAB_CAPACITY_PATTERNS": "round_robin",
}  # fmt: skip
ARGS = ["--scenario", "capacity", "--repeats", "1", "--manual-tokens", "200", "--max-tokens", "4"]
CONFIGS = ("vllm_only", "lmcache_memory", "lmcache_disk")


@pytest.fixture(scope="module")
def capacity_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("capacity")
    env = own_stack_env(folder, **TINY)
    out = folder / "run"
    # A hang guard, not a speed check: the run took 15 min on a loaded 2-core machine.
    proc = run_cli("experiments.run_graph", *ARGS, "--out", str(out), env=env, timeout=2400)
    yield proc, out, env
    with pytest.MonkeyPatch.context() as mp:
        base = settings_from(env, mp)
    for config in CONFIGS:  # nothing may be left running, whatever happened
        Stack(config_settings(base, config)).down(quiet=True)


def comparison(out) -> dict:
    return json.loads((out / "summary.json").read_text())["scenarios"]["capacity"]["comparison"]


def step(comp: dict, config: str, w: int) -> dict:
    return next(s for s in comp["steps"] if s["config"] == config and s["working_set_manuals"] == w)


@slow
def test_each_configuration_keeps_what_its_tiers_hold(capacity_run):
    proc, out, _ = capacity_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PASS" in proc.stdout
    comp = comparison(out)
    # vLLM alone loses the rotation once it is 2x its KV memory; LMCache's memory holds 3 manuals, its disk 5.
    assert step(comp, "vllm_only", 3)["hit_rate"] < 0.5
    assert step(comp, "lmcache_memory", 3)["hit_rate"] >= 0.9 and step(comp, "lmcache_memory", 5)["hit_rate"] < 0.9
    assert step(comp, "lmcache_disk", 5)["hit_rate"] >= 0.9 and step(comp, "lmcache_disk", 5)["from_lmcache_disk"] > 0
    kept = {k["config"]: k for k in comp["kept"]}
    assert (kept["lmcache_memory"]["kept_manuals"], kept["lmcache_disk"]["kept_manuals"]) == (3, 5)
    assert all(k["within_tolerance"] for k in kept.values() if k["lost_manuals"]), kept
    assert (out / "capacity_hit_rate_ttft.png").is_file()


@slow
def test_every_call_carries_its_working_set(capacity_run):
    _, out, _ = capacity_run
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 3 * (1 + 3 + 5 + 8) * 2, "a fill pass and one round-robin pass per size, per configuration"
    for r in rows:
        assert int(r["working_set_tokens"]) == int(r["working_set_manuals"]) * int(r["static_prefix_tokens"])
        assert r["tier"] in CONFIGS and r["rotation_pass"] in ("0", "1")
    lmcache_rows = [r for r in rows if r["tier"] != "vllm_only"]
    assert all(r["lmcache_l1_usage_bytes"] for r in lmcache_rows), "LMCache's own usage is read after every call"


@slow
def test_the_disk_tier_evicts_at_its_bound(capacity_run):
    _, out, _ = capacity_run
    comp = comparison(out)
    bound = comp["capacity"]["tiers"]["lmcache_disk"]["bytes"]
    past = step(comp, "lmcache_disk", 8)
    assert past["hit_rate"] < 0.9, "8 manuals do not fit a disk tier of 6"
    assert past["lmcache_l2_evicted_in_step"] > 0
    assert 0 < past["lmcache_l2_usage_bytes"] <= bound
    assert step(comp, "lmcache_memory", 3)["lmcache_l2_usage_bytes"] is None, "lmcache_memory has no disk tier"


def test_a_disk_folder_that_cannot_be_written_is_refused_before_start(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = own_stack_env(tmp_path, LMLAB_DISK_DIR=str(blocker / "disk"))
    proc = run_cli("serving", "up", env=env, timeout=120)
    assert_one_line_error(proc, "LMLAB_DISK_DIR", "not a directory")
    # /proc takes no files, for root too (a chmod'ed folder would not stop root).
    proc = run_cli("serving", "up", env={**env, "LMLAB_DISK_DIR": "/proc/lmlab-disk"}, timeout=120)
    assert_one_line_error(proc, "LMLAB_DISK_DIR", "cannot be written")
    proc = run_cli("serving", "up", env={**env, "LMLAB_DISK_DIR": str(tmp_path / "disk"), "LMLAB_DISK_GIB": "1000000"}, timeout=120)
    assert_one_line_error(proc, "LMLAB_DISK_GIB", "free")
    assert not (tmp_path / "disk").exists(), "nothing was created"
