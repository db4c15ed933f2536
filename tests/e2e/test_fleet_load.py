"""fleet_load on the real stack, small: two policies at one load step through a two-instance fleet
with vLLM's prefix cache on; then, on the same fleet (kv_aware by then), that every instance's KV
events reach the router and that kv_aware sends a prompt to the instance holding its KV.

For the second part each of four manuals is first asked of one instance directly, alternating, so
that only that instance holds its KV; then each is asked through the router. Round robin or any
load-based choice puts at least one of the four on the wrong instance; without KV events kv_aware
has nothing to go on and falls back to load. Our own ZMQ subscriber counts the events.
"""

import csv
import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from experiments.scenarios.fleet_load.load import KvEventCounter
from experiments.scenarios.fleet_load.scenario import FleetLoad, FleetLoadParams
from lab.settings import env_name
from serving.launcher import Stack
from tests.conftest import free_port
from tests.e2e.helpers import assert_nothing_left, own_stack_env, run_cli, settings_from, wait_for

pytestmark = pytest.mark.e2e

MANUALS = 4


def manual(k: int) -> str:
    """A few hundred tokens no other manual shares (several of vLLM's 128-token CPU blocks)."""
    return f"Manual {k}. " + " ".join(f"Rule {k}.{j}: the part numbered {j * 7 + k} fits slot {j * 3 + k}." for j in range(40))


def ask(url: str, k: int, question: str) -> dict:
    body = {"model": "smollm2-135m-instruct", "max_tokens": 1, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": manual(k)}, {"role": "user", "content": question}]}  # fmt: skip
    out = {}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=120) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                chunk = httpx.Response(200, content=line[6:]).json()
                out["served_by"] = chunk.get("system_fingerprint") or out.get("served_by")
                out["usage"] = chunk.get("usage") or out.get("usage")
    return out


def placement_hits(url: str) -> float:
    """The router's count of kv_aware look-ups that found a prompt's blocks on some worker."""
    text = httpx.get(url, timeout=5).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name.startswith("vllm_router_kv_placement_lookups") and s.labels.get("result") == "hit")  # fmt: skip


def test_two_policies_under_load_then_kv_aware_sends_each_manual_where_its_kv_is(tmp_path, monkeypatch):
    # A stack of its own (name and ports), with the scenario's tier sizes (empty: not set here).
    env = own_stack_env(tmp_path, LMLAB_LOAD_CELLS="round_robin:none,kv_aware:none", LMLAB_LOAD_STEPS="2",
                        LMLAB_LOAD_TENANTS="2", LMLAB_LOAD_USERS="1", LMLAB_KV_CACHE_GIB="", LMLAB_LMCACHE_L1_GIB="",
                        LMLAB_DISK_DIR="", LMLAB_ROUTER_PORT=str(free_port()), LMLAB_ROUTER_METRICS_PORT=str(free_port()),
                        LMLAB_KV_EVENTS_PORT=str(free_port()))  # fmt: skip
    out = tmp_path / "run"
    # The stack as the run's last cell leaves it, kept: the scenario's settings, where the environment sets none.
    last = FleetLoad.stack_overrides(FleetLoadParams(load_cells=(("kv_aware", "none"),)), "cpu")
    stack_env = {**{env_name(k): str(v) for k, v in last.items()}, **{k: v for k, v in env.items() if v}}
    counter = settings = None
    try:
        proc = run_cli("experiments.run_graph", "--scenario", "fleet_load", "--questions", "2", "--manual-tokens", "300",
                       "--max-tokens", "2", "--keep-stack", "--out", str(out), env=env)  # fmt: skip
        assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: a mark missed, which a run this small may
        rows = list(csv.DictReader((out / "results.csv").open()))
        assert len(rows) == 2 * 2 * 1 * 2  # cells x tenants x users x questions
        assert {r["variant"] for r in rows} == {"round_robin/none", "kv_aware/none"}
        # Under concurrency every row still names the instance that answered it, from its own stream.
        assert all(r["instance"] in ("vllm", "vllm-1") and r["instance"] == r["served_by"] for r in rows)
        assert {r["load_step"] for r in rows} == {"2"} and {r["tenant"] for r in rows} == {"t0", "t1"}
        steps = {r["variant"]: r for r in csv.DictReader((out / "load_steps.csv").open())}
        kv = steps["kv_aware/none"]
        assert int(kv["vllm_kv_events"]) > 0 and int(kv["vllm-1_kv_events"]) > 0, kv
        assert int(float(kv.get("router_lookups_hit") or 0)) > 0, kv
        summary = json.loads((out / "summary.json").read_text())["scenarios"]["fleet_load"]["comparison"]
        assert {(c["policy"], c["load_step"]) for c in summary["cells"]} == {("round_robin", 2), ("kv_aware", 2)}
        assert summary["regime"]["regime"] and (out / "fleet_load_p90.png").exists() and (out / "fleet_load_cells.png").exists()
        assert "working set: 2 manuals" in proc.stdout

        settings = settings_from(stack_env, monkeypatch)
        counter = KvEventCounter([settings.kv_events_endpoint(i) for i in range(2)])
        time.sleep(1)  # ZMQ subscriptions take a moment; events published before are not replayed
        seen = [0, 0]

        def events_from_both() -> bool:
            seen[:] = [a + b for a, b in zip(seen, counter.take())]
            return all(n > 0 for n in seen)

        names = ["vllm", "vllm-1"]
        holder = {k: k % 2 for k in range(MANUALS)}
        for k, i in holder.items():  # each manual's KV on one instance only
            assert ask(settings.endpoint_of(i).url, k, "What does rule 1 say?")["served_by"] == names[i]
        wait_for(events_from_both, 30, "KV events from both instances")
        before = placement_hits(settings.router_metrics_url)
        routed = {k: ask(settings.endpoint, k, "What does rule 2 say?") for k in range(MANUALS)}
        assert {k: r["served_by"] for k, r in routed.items()} == {k: names[i] for k, i in holder.items()}
        # Each routed call reused its manual's KV there (vLLM's prefix cache: whole 128-token blocks),
        # and the router says it found that KV in its index, once per call at least.
        assert all(r["usage"]["prompt_tokens_details"]["cached_tokens"] >= 128 for r in routed.values()), routed
        assert placement_hits(settings.router_metrics_url) - before >= MANUALS
    finally:
        if counter is not None:
            counter.close()
        settings = settings or settings_from(stack_env, monkeypatch)
        Stack(settings).down(quiet=True)
    assert_nothing_left(settings, [])
