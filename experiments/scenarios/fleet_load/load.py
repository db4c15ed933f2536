"""What a load step needs besides the calls: its clock, its client, and the fleet's figures over it.

Under concurrency, per-call ``/metrics`` deltas mix calls, so a call's row keeps what its own stream
says (the instance that answered it, ``served_by``; its cached tokens, from its usage) and the step
is measured as a whole: each instance's vLLM and LMCache counters, vLLM's queue-time histogram and
the router's own counters before and after the step, and the KV events each instance published
during it (counted by a ZMQ subscriber of our own beside the router's).
"""

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import zmq

from clients.endpoint import scrape_metrics
from experiments.run.plan import Session
from experiments.scenarios.fleet.client import Fleet, FleetClient
from metrics.attribution import UNKNOWN
from metrics.prometheus import counters_by_label, delta, histogram_totals, hit_tokens, parse_counters
from metrics.records import CallRecord

QUEUE_TIME = "vllm:request_queue_time_seconds"
ROUTER_LOOKUPS = "vllm_router_kv_placement_lookups"
ROUTER_INPUTS = "vllm_router_kv_routing_inputs"


@dataclass
class StepClock:
    """When the running load step ends; sessions stop asking once it has passed."""

    deadline: float = math.inf

    def start(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def over(self) -> bool:
        return time.monotonic() >= self.deadline


@dataclass(frozen=True)
class LoadClient:
    """A fleet session of one user of one tenant within one load step: the fleet client's calls
    (through the router, no per-call snapshots), each labelled with its tenant and step, and named
    by the instance its stream names (``unknown`` when it names none of the fleet's)."""

    fleet_client: FleetClient
    clock: StepClock
    tenant: str
    step: int
    name: str = "fleet_load"

    def calls(self, session: Session, config: dict) -> Iterator[CallRecord]:
        names = self.fleet_client.fleet.names
        for record in self.fleet_client.calls(session, config):
            instance = record.served_by if record.served_by in names else UNKNOWN
            yield replace(record, tenant=self.tenant, load_step=self.step, instance=instance, hit_source="")
            if self.clock.over():
                return


def fleet_snapshot(fleet: Fleet, router_metrics_url: str) -> dict:
    """Every counter a step's figures are deltas of."""
    per_instance = []
    servers = {u: scrape_metrics(u) for u in dict.fromkeys(fleet.lmcache_urls)}
    for e in fleet.instances:
        text = e.scrape_metrics()
        lmcache = servers.get(e.lmcache_metrics_url)
        per_instance.append({
            "vllm": parse_counters(text) if text is not None else {},
            "lmcache": parse_counters(lmcache) if lmcache is not None else {},
            "queue": histogram_totals(text, QUEUE_TIME),
        })  # fmt: skip
    router = scrape_metrics(router_metrics_url)
    return {"instances": per_instance, "lookups": counters_by_label(router, ROUTER_LOOKUPS, "result"),
            "inputs": counters_by_label(router, ROUTER_INPUTS, "result")}  # fmt: skip


def step_figures(fleet: Fleet, before: dict, after: dict, events: list[int]) -> dict:
    """One step's server-side figures: per instance its prompt tokens, hits by source and KV events;
    the mean queue time over all instances; the router's kv_aware look-ups and inputs by result."""
    row: dict = {}
    queue_sum = queue_count = 0.0
    for name, b, a, n_events in zip(fleet.names, before["instances"], after["instances"], events, strict=True):
        d = delta(b["vllm"], a["vllm"])
        hits = hit_tokens(d, delta(b["lmcache"], a["lmcache"]) if a["lmcache"] else None)
        row[f"{name}_prompt_tokens"] = int(d.get("vllm:prompt_tokens_total", 0))
        row[f"{name}_vllm_hit_tokens"] = hits["device_hit_tokens"]
        row[f"{name}_lmcache_hit_tokens"] = hits["lmcache_hit_tokens"]
        row[f"{name}_kv_events"] = n_events
        queue_sum += a["queue"][0] - b["queue"][0]
        queue_count += a["queue"][1] - b["queue"][1]
    row["queue_time_mean_ms"] = round(queue_sum / queue_count * 1000, 2) if queue_count else None
    for kind in ("lookups", "inputs"):
        for result, value in delta(before[kind], after[kind]).items():
            if value:
                row[f"router_{kind}_{result or 'all'}"] = int(value)
    return row


class KvEventCounter:
    """Counts the messages each instance's KV-event publisher sends (a ZMQ PUB socket serves any
    number of subscribers; the router is another). ``take()`` returns the counts since the last take."""

    def __init__(self, endpoints: list[str]):
        self._counts = [0] * len(endpoints)
        self._taken = [0] * len(endpoints)
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._threads = [threading.Thread(target=self._count, args=(i, e), name=f"kv-events-{i}", daemon=True)
                         for i, e in enumerate(endpoints)]  # fmt: skip
        for t in self._threads:
            t.start()

    def _count(self, i: int, endpoint: str) -> None:
        sock = self._ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.setsockopt(zmq.RCVTIMEO, 200)
        sock.connect(endpoint)
        try:
            while not self._stop.is_set():
                try:
                    sock.recv_multipart()
                    self._counts[i] += 1
                except zmq.Again:
                    pass
        finally:
            sock.close(linger=0)

    def take(self) -> list[int]:
        now = list(self._counts)
        out = [n - t for n, t in zip(now, self._taken)]
        self._taken = now
        return out

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self._ctx.term()
