"""One measured LLM call: ``measured_call`` is the one function every path goes through (the QA
graph's ``generate`` node, the agent's nodes, the bare and suffix-only clients, the fleet client).

In order: the prediction (the prompt's token ids as the server renders them, and how many of them
the cache should serve: the longest prefix shared with the session's earlier prompts, chunk-aligned),
the meter's snapshot, the streamed call (a ``Streamer``: ``clients.chat_stream.ChatStreamer`` or
``clients.bare_stream.BareStreamer``) under the meter's watch, the meter's snapshot again and its
attribution (which instance served the call, its hits by source), and the ``CallRecord``.

How to snapshot and attribute is the meter's: ``EndpointMeter`` reads one endpoint's vLLM and
LMCache ``/metrics``; a fleet's meter (``experiments.scenarios.fleet.client.Fleet``) reads every
instance's and names the one that served the call.
"""

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from clients.endpoint import Endpoint, scrape_metrics
from clients.stream_result import StreamResult
from lab.errors import ServerGone, UserError
from metrics.prometheus import delta, hit_tokens, parse_counters
from metrics.records import CallRecord
from prompts.prefix_analysis import cacheable_tokens, difference_snippet, longest_shared, prediction_note

# How often a call in flight checks that the LMCache server still answers. A call caught by the
# server's death would otherwise hang until vLLM's engine gives up on it (5 min).
LMCACHE_WATCH_S = 5.0

Streamer = Callable[[Endpoint, list[dict]], StreamResult]


class Meter(Protocol):
    """How a call is measured around: counters before and after, what they say, how it is watched."""

    def snapshot(self) -> Any:
        """The counters now; None when there is nothing to measure (then ``attribute`` is not asked)."""

    def attribute(self, before: Any, after: Any) -> tuple[str, dict | None]:
        """(the instance that served the call, "" where there is one; its hits by source, None: unknown)."""

    def watch(self, call: Callable[[], StreamResult]) -> StreamResult:
        """``call()``, stopped early where the meter sees a server it depends on die."""

    def failed(self, err: UserError) -> str:
        """The error a failed call's row keeps, or raise to stop the run."""


def lmcache_counters(endpoint: Endpoint) -> dict | None:
    """The counters of the LMCache server behind ``endpoint``; None when it names none.

    A configured LMCache server that does not answer has stopped: vLLM then serves without it, and
    the run stops (``ServerGone``) rather than record calls whose cache figures it cannot check."""
    if not endpoint.lmcache_metrics_url:
        return None
    text = scrape_metrics(endpoint.lmcache_metrics_url)
    if text is None:
        raise ServerGone(f"the LMCache server at {endpoint.lmcache_metrics_url} stopped answering")
    return parse_counters(text)


def counters_snapshot(endpoint: Endpoint) -> dict | None:
    """vLLM's counters, plus the LMCache server's when its URL is configured; None without /metrics."""
    text = endpoint.scrape_metrics()
    if text is None:
        return None
    return {"vllm": parse_counters(text), "lmcache": lmcache_counters(endpoint)}


def watched(endpoint: Endpoint, call: Callable[[], StreamResult], every_s: float = LMCACHE_WATCH_S) -> StreamResult:
    """``call()``, while the endpoint's LMCache server is checked every ``every_s``: once it stops
    answering, ``ServerGone`` stops the run within seconds, instead of after vLLM's engine gives up (5 min).

    The call runs in a daemon thread (with this thread's context, so tracing and LangGraph's
    callbacks see their parent run); a call left behind ends with the process or with the stack.
    Without an LMCache URL there is nothing to watch and the call runs here."""
    if not endpoint.lmcache_metrics_url:
        return call()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as err:  # handed to the caller's thread, raised there
            outcome["error"] = err

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="llm-call", daemon=True)
    worker.start()
    worker.join(every_s)
    while worker.is_alive():
        lmcache_counters(endpoint)  # raises ServerGone
        worker.join(every_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@dataclass(frozen=True)
class EndpointMeter:
    """One endpoint's meter: its vLLM ``/metrics`` and its LMCache server's around the call, which
    also watches the call. ``per_call`` False (concurrent load, where deltas would mix calls): no
    snapshot, sources left empty, though a dead LMCache server still stops the run."""

    endpoint: Endpoint
    per_call: bool = True

    def snapshot(self) -> dict | None:
        if self.per_call:
            return counters_snapshot(self.endpoint)
        lmcache_counters(self.endpoint)
        return None

    def attribute(self, before: dict, after: dict | None) -> tuple[str, dict | None]:
        if after is None:
            return "", None
        server = None
        if before.get("lmcache") is not None and after["lmcache"] is not None:
            server = delta(before["lmcache"], after["lmcache"])
        return "", hit_tokens(delta(before["vllm"], after["vllm"]), server)

    def watch(self, call: Callable[[], StreamResult]) -> StreamResult:
        return watched(self.endpoint, call)

    def failed(self, err: UserError) -> str:
        raise err


@dataclass(frozen=True)
class Prediction:
    """What the cache should serve of a prompt, predicted from its token ids before the call."""

    prompt_token_ids: list[int]
    shared_prefix_tokens: int
    predicted_cached_tokens: int
    first_difference: str  # the text where the prompt parts from the closest earlier one


def predict(endpoint: Endpoint, messages: list[dict], earlier: list[list[int]], chunk_size: int) -> Prediction:
    """The server's own rendering (chat template + tokenizer), so the prediction sees what the cache sees."""
    ids = endpoint.tokenize_chat(messages, add_generation_prompt=True)
    shared, closest = longest_shared(ids, earlier)
    where = ""
    if closest is not None and shared < len(ids):
        where = difference_snippet(endpoint.detokenize, ids, shared)
    return Prediction(ids, shared, cacheable_tokens(shared, len(ids), chunk_size), where)


def with_prediction(call: CallRecord, p: Prediction, chunk_size: int) -> CallRecord:
    """The call's record with its prediction, and a note when the observation is more than one chunk off it."""
    note = prediction_note(p.predicted_cached_tokens, call.cached_tokens, chunk_size, len(p.prompt_token_ids), call.prompt_tokens)
    return replace(call, shared_prefix_tokens=p.shared_prefix_tokens, predicted_cached_tokens=p.predicted_cached_tokens,
                   new_tokens=len(p.prompt_token_ids) - p.shared_prefix_tokens, first_difference=p.first_difference,
                   cache_note=note)  # fmt: skip


def measured_call(
    endpoint: Endpoint,
    streamer: Streamer,
    messages: list[dict],
    *,
    meter: Meter | None = None,
    earlier: list[list[int]] | None = None,
    chunk_size: int = 0,
    **labels,
) -> tuple[CallRecord, list[int]]:
    """Predict, snapshot, stream, snapshot, attribute: one call's ``CallRecord`` (``labels`` are its
    other fields: question_id, question, node, layout, static_prefix_tokens, manual_tokens, turn, ...)
    and the prompt's token ids, for the next call's prediction.

    ``meter`` defaults to the endpoint's own; ``earlier`` (the session's earlier prompts' ids) asks for
    the prediction, None skips it (the bare clients: no /tokenize beside their calls); ``chunk_size``
    is LMCache's, for the prediction."""
    meter = meter or EndpointMeter(endpoint)
    prediction = predict(endpoint, messages, earlier, chunk_size) if earlier is not None else None
    before = meter.snapshot()
    try:
        stream, error = meter.watch(lambda: streamer(endpoint, messages)).fields(), ""
    except UserError as err:  # ServerGone included: the meter says whether the run goes on
        stream, error = {}, meter.failed(err)
    after = meter.snapshot() if before is not None else None
    instance, hits = meter.attribute(before, after) if before is not None else ("", None)
    record = CallRecord(**labels, **stream, instance=instance, error=error).with_hits(hits)
    if prediction is not None:
        record = with_prediction(record, prediction, chunk_size)
    return record, prediction.prompt_token_ids if prediction is not None else []
