"""The client of a fleet: the QA graph's very messages, sent through the router, one call at a time.

A ``Client`` (``experiments.run.plan``) like ``experiments.run.clients.BARE``, with what a fleet adds:
- every call carries the session's id in the header the router's ``consistent_hash`` policy hashes
  (``X-Session-ID``); other policies ignore it;
- the row names the instance that served it: each of the lab's instances stamps its own name on its
  responses (``system_fingerprint``, ``CallRecord.served_by``), which the router passes through;
- around every call it snapshots each instance's vLLM ``/metrics`` and LMCache server ``/metrics``,
  which split its hits by the tier of that instance's own LMCache server (the shared one in ``node``
  sharing), and name the instance too (``metrics.attribution``) where a stream named none;
- a call that fails while the router still answers (an instance lost mid-call) becomes a row with
  its ``error``; a router that stops answering stops the run (``ServerGone``: finish with --resume).

It goes around the graph because LangChain's client cannot send a per-session header; the messages
are byte-identical to the graph's (``BareClient.prompts``), so the cache sees the same prompts.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import httpx

from clients.bare_stream import BareStreamer
from clients.endpoint import Endpoint, scrape_metrics
from clients.measured import measured_call
from clients.stream_result import StreamResult
from experiments.run.clients import BARE
from experiments.run.plan import Session
from lab.errors import ServerGone, UserError
from metrics.attribution import UNKNOWN, hit_source, serving_instance
from metrics.prometheus import L2_STORES_COMPLETED, L2_STORES_SUBMITTED, delta, hit_tokens, parse_counters
from metrics.records import CallRecord
from serving.settings import StackSettings

SESSION_HEADER = "X-Session-ID"


@dataclass(frozen=True)
class Fleet:
    """What the client knows of a fleet: the router, and per instance its name and endpoint (with its
    LMCache server). It is the fleet's meter of ``clients.measured.measured_call``: it snapshots every
    instance and attributes a call to the one that served it."""

    router: Endpoint
    names: tuple[str, ...]
    instances: tuple[Endpoint, ...]  # in node sharing every instance names the same LMCache server
    sharing: str
    # False under concurrent load, where per-call deltas would mix calls: no snapshots, so a row's
    # instance is what its stream names and its hits are its usage's (the step is measured whole).
    per_call: bool = True

    @classmethod
    def of(cls, settings: StackSettings, like: Endpoint | None = None, per_call: bool = True) -> "Fleet":
        """The fleet ``settings`` describe, called as ``like`` calls its endpoint (model, key, timeout)."""
        names = tuple("vllm" if i == 0 else f"vllm-{i}" for i in range(settings.instances))  # as `serving status` names them
        instances = tuple(settings.endpoint_of(i, like) for i in range(settings.instances))
        return cls(settings.endpoint_of(like=like), names, instances, settings.sharing, per_call)

    @property
    def lmcache_urls(self) -> tuple[str, ...]:
        return tuple(e.lmcache_metrics_url for e in self.instances if e.lmcache_metrics_url)

    def router_answers(self) -> bool:
        try:
            return httpx.get(self.router.root + "/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def snapshot(self) -> list[dict] | None:
        """Per instance: its vLLM counters and its LMCache server's (each None when it does not answer)."""
        if not self.per_call:
            return None
        servers = {u: _counters(scrape_metrics(u)) for u in dict.fromkeys(self.lmcache_urls)}
        return [{"vllm": _counters(e.scrape_metrics()), "lmcache": servers.get(e.lmcache_metrics_url)} for e in self.instances]

    def attribute(self, before: list[dict], after: list[dict]) -> tuple[str, dict | None]:
        """(the instance that served the call, its hits by source; None when unknown)."""
        name = serving_instance([b["vllm"] for b in before], [a["vllm"] for a in after], list(self.names))
        if name == UNKNOWN:
            return name, None
        i = self.names.index(name)
        server = None
        if before[i]["lmcache"] is not None and after[i]["lmcache"] is not None:
            server = delta(before[i]["lmcache"], after[i]["lmcache"])
        return name, hit_tokens(delta(before[i]["vllm"], after[i]["vllm"]), server)

    def watch(self, call: Callable[[], StreamResult]) -> StreamResult:
        # Not watched: an instance or its LMCache server lost mid-call is one of the faults measured;
        # the call's row keeps its error (``failed``).
        return call()

    def failed(self, err: UserError) -> str:
        """A call that fails while the router still answers (an instance lost mid-call) is a row with
        its error; a router that stops answering stops the run."""
        if not self.router_answers():
            raise ServerGone(f"the router at {self.router.url} stopped answering") from None
        return str(err)


def _counters(text: str | None) -> dict | None:
    return parse_counters(text) if text is not None else None


def l2_settled(lmcache_url: str) -> bool:
    """True when the LMCache server has written to its L2 tier everything it accepted (or is gone)."""
    text = scrape_metrics(lmcache_url)
    if text is None:
        return True
    c = parse_counters(text)
    return c.get(L2_STORES_COMPLETED, 0) >= c.get(L2_STORES_SUBMITTED, 0)


def wait_l2_settled(urls: tuple[str, ...], timeout_s: float = 60) -> bool:
    """Wait until every server's L2 writes are done; False when they are not within ``timeout_s``
    (Redis gone, say): the next call then measures what the fleet does without them."""
    deadline = time.monotonic() + timeout_s
    while not all(l2_settled(u) for u in dict.fromkeys(urls)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@dataclass(frozen=True)
class FleetClient:
    fleet: Fleet
    settle_l2: bool = False  # redis sharing: wait for the Redis writes after each call
    name: str = "fleet"

    def calls(self, session: Session, config: dict) -> Iterator[CallRecord]:
        ctx = session.context
        # Tokenized by instance 0, not through the router: a /tokenize there would take a turn of round robin.
        state = BARE.state(session)
        with httpx.Client() as http:
            streamer = BareStreamer(http, ctx.max_tokens, ctx.temperature, {SESSION_HEADER: session.name})
            for i, messages, prefix_tokens in BARE.prompts(session, state):
                call, _ = measured_call(self.fleet.router, streamer, messages, meter=self.fleet, question_id=i,
                                        question=session.questions[i], node=self.name, layout=ctx.layout,
                                        static_prefix_tokens=prefix_tokens, manual_tokens=state.manual_size_tokens or None)  # fmt: skip
                if self.settle_l2:
                    wait_l2_settled(self.fleet.lmcache_urls)
                source = hit_source(self.fleet.sharing, call.device_hit_tokens, call.lmcache_l1_hit_tokens, call.lmcache_l2_hit_tokens)
                # The instance's own name on the stream (its system_fingerprint) is exact; the /metrics
                # attribution stands where a stream carried none.
                instance = call.served_by if call.served_by in self.fleet.names else call.instance
                yield replace(call, hit_source=source, instance=instance)
