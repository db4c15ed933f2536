"""The client of a fleet: the QA graph's very messages, sent through the router, one call at a time.

A ``Client`` (``experiments.run.plan``) like ``experiments.run.clients.BARE``, with what a fleet adds:
- every call carries the session's id in the header the router's ``consistent_hash`` policy hashes
  (``X-Session-ID``); other policies ignore it;
- around every call it snapshots each instance's vLLM ``/metrics`` and LMCache server ``/metrics``,
  so the row names the instance that served it (``metrics.attribution``) and splits its hits by the
  tier of that instance's own LMCache server (the shared one in ``node`` sharing);
- a call that fails while the router still answers (an instance lost mid-call) becomes a row with
  its ``error``; a router that stops answering stops the run (``ServerGone``: finish with --resume).

It goes around the graph because LangChain's client cannot send a per-session header; the messages
are byte-identical to the graph's (``BareClient.prompts``), so the cache sees the same prompts.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx

from clients.bare_stream import stream_chat
from clients.vllm import scrape_metrics, server_root
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
    """What the client knows of a fleet: the router, and per instance its name, endpoint and LMCache server."""

    router: str  # the router's OpenAI base URL
    names: tuple[str, ...]
    endpoints: tuple[str, ...]
    lmcache_urls: tuple[str, ...]  # per instance; in node sharing every instance names the same server
    sharing: str

    @classmethod
    def of(cls, settings: StackSettings) -> "Fleet":
        names = tuple("vllm" if i == 0 else f"vllm-{i}" for i in range(settings.instances))  # as `serving status` names them
        return cls(settings.router_endpoint, names, tuple(settings.endpoints()), tuple(settings.lmcache_urls()), settings.sharing)

    def router_answers(self) -> bool:
        try:
            return httpx.get(server_root(self.router) + "/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def snapshot(self, api_key: str = "") -> list[dict]:
        """Per instance: its vLLM counters and its LMCache server's (each None when it does not answer)."""
        servers = {u: _counters(scrape_metrics(u)) for u in dict.fromkeys(self.lmcache_urls)}
        return [
            {"vllm": _counters(scrape_metrics(e, api_key)), "lmcache": servers.get(u) if u else None}
            for e, u in zip(self.endpoints, self.lmcache_urls or [""] * len(self.endpoints), strict=True)
        ]

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
            for i, messages, prefix_tokens in BARE.prompts(session, state):
                before = self.fleet.snapshot(ctx.api_key)
                error = ""
                try:
                    result = stream_chat(http, self.fleet.router, ctx.model, messages, max_tokens=ctx.max_tokens,
                                         temperature=ctx.temperature, api_key=ctx.api_key, timeout=ctx.request_timeout_s,
                                         headers={SESSION_HEADER: session.name})  # fmt: skip
                except UserError as err:  # ServerGone included
                    if not self.fleet.router_answers():
                        raise ServerGone(f"the router at {self.fleet.router} stopped answering") from None
                    result, error = {}, str(err)
                instance, hits = self.fleet.attribute(before, self.fleet.snapshot(ctx.api_key))
                call = CallRecord(question_id=i, question=session.questions[i], node=self.name, layout=ctx.layout,
                                  static_prefix_tokens=prefix_tokens, manual_tokens=state.manual_tokens or None,
                                  instance=instance, error=error, **result).with_hits(hits)  # fmt: skip
                if self.settle_l2:
                    wait_l2_settled(self.fleet.lmcache_urls)
                source = hit_source(self.fleet.sharing, call.device_hit_tokens, call.lmcache_l1_hit_tokens, call.lmcache_l2_hit_tokens)
                yield replace(call, hit_source=source)
