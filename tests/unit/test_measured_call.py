"""One measured call: both streamers give the same StreamResult, and ``measured_call`` puts the
meter's snapshots, its attribution and the prediction into one CallRecord, whatever the path.

Streams are recorded from the real vLLM server and replayed; meters and streamers are recorded
stand-ins, so each test shows one piece of the assembly."""

from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from langchain_openai import ChatOpenAI

from clients.bare_stream import stream_chat
from clients.chat_stream import stream_timed
from clients.endpoint import Endpoint
from clients.measured import EndpointMeter, measured_call
from clients.stream_result import StreamResult
from lab.errors import ServerGone, UserError
from metrics.prometheus import parse_counters
from metrics.records import CallRecord

FIXTURES = Path(__file__).parent.parent / "fixtures"
ENDPOINT = Endpoint(url="http://vllm/v1", model="smollm2-135m-instruct")
MESSAGES = [{"role": "user", "content": "q"}]


def replayed_stream() -> httpx.MockTransport:
    recorded = (FIXTURES / "chat_stream.txt").read_bytes()
    return httpx.MockTransport(lambda r: httpx.Response(200, content=recorded, headers={"content-type": "text/event-stream"}))


def test_both_streamers_give_the_same_stream_result_from_the_same_stream():
    with httpx.Client(transport=replayed_stream()) as http:
        bare = stream_chat(http, ENDPOINT, MESSAGES, max_tokens=6, temperature=0)
        llm = ChatOpenAI(base_url=ENDPOINT.url, api_key="EMPTY", model=ENDPOINT.model, streaming=True, stream_usage=True,
                         max_retries=0, http_client=http)  # fmt: skip
        chat = stream_timed(llm, MESSAGES)
    assert isinstance(bare, StreamResult) and isinstance(chat, StreamResult)
    same = ("prompt_tokens", "completion_tokens", "cached_tokens", "answer")
    assert {k: getattr(bare, k) for k in same} == {k: getattr(chat, k) for k in same} == {
        "prompt_tokens": 37, "completion_tokens": 6, "cached_tokens": 0, "answer": "The pass statement in Python is"}  # fmt: skip
    for result in (bare, chat):
        assert 0 <= result.ttft_ms <= result.total_ms and result.started_at > 0
    # Only the bare client sees the server's id: langchain-openai keeps none of a chat stream's chunks.
    assert (bare.response_id, chat.response_id) == ("chatcmpl-95dc9e7334c5cabb", "")


def test_a_stream_result_is_call_record_fields():
    result = StreamResult(started_at=1.0, ttft_ms=2.0, total_ms=3.0, answer="a", response_id="chatcmpl-1")
    assert CallRecord(**result.fields()).response_id == "chatcmpl-1"


@dataclass
class RecordedMeter:
    """A meter replaying recorded vLLM counters: what it was asked, in order, is its log."""

    snapshots: list
    instance: str = "vllm-1"
    error: str | None = None  # what ``failed`` keeps; None: it stops the run
    log: list = field(default_factory=list)

    def snapshot(self):
        self.log.append("snapshot")
        return self.snapshots.pop(0)

    def attribute(self, before, after):
        self.log.append("attribute")
        hits = {"device_hit_tokens": 0, "lmcache_hit_tokens": int(after - before)}
        return self.instance, hits

    def watch(self, call):
        self.log.append("watch")
        return call()

    def failed(self, err):
        self.log.append("failed")
        if self.error is None:
            raise err
        return self.error


def streamed(**figures):
    """A streamer that returns a recorded result and notes the endpoint and messages it was given."""
    seen = []

    def streamer(endpoint, messages):
        seen.append((endpoint, messages))
        return StreamResult(started_at=1.0, ttft_ms=120.0, total_ms=300.0, prompt_tokens=4000, cached_tokens=3840,
                            answer="yes", **figures)  # fmt: skip

    return streamer, seen


def test_the_measured_call_snapshots_around_the_watched_stream_and_records_what_the_meter_attributes():
    meter = RecordedMeter(snapshots=[0.0, 3840.0])
    streamer, seen = streamed()
    record, ids = measured_call(ENDPOINT, streamer, MESSAGES, meter=meter, question_id=2, question="q", node="fleet")
    assert meter.log == ["snapshot", "watch", "snapshot", "attribute"]
    assert seen == [(ENDPOINT, MESSAGES)]
    assert (record.question_id, record.node, record.instance, record.ttft_ms, record.answer) == (2, "fleet", "vllm-1", 120.0, "yes")
    assert (record.lmcache_hit_tokens, record.hit_rate, record.lmcache_hit_rate) == (3840, 0.96, 0.96)
    assert ids == [] and record.predicted_cached_tokens is None, "no earlier prompts given: no prediction asked for"


def test_without_a_snapshot_nothing_is_attributed_and_the_sources_stay_unknown():
    meter = RecordedMeter(snapshots=[None])
    record, _ = measured_call(ENDPOINT, streamed()[0], MESSAGES, meter=meter)
    assert meter.log == ["snapshot", "watch"]
    assert record.lmcache_hit_tokens is None and record.hit_rate == 0.96  # the rate from usage, the source unknown


def test_a_failed_call_is_a_row_with_its_error_where_the_meter_says_the_run_goes_on():
    def lost(endpoint, messages):
        raise ServerGone("lost the connection to vLLM at http://vllm-1/v1 during a call")

    meter = RecordedMeter(snapshots=[0.0, 0.0], error="lost the connection to vLLM at http://vllm-1/v1 during a call")
    record, _ = measured_call(ENDPOINT, lost, MESSAGES, meter=meter, question="q")
    assert meter.log == ["snapshot", "watch", "failed", "snapshot", "attribute"]
    assert record.error.startswith("lost the connection") and record.ttft_ms == 0.0 and record.answer == ""


def test_a_failed_call_stops_the_run_where_the_meter_says_so():
    def refused(endpoint, messages):
        raise UserError("http://vllm/v1 refused the call (400): too long")

    with pytest.raises(UserError, match="refused the call"):
        measured_call(ENDPOINT, refused, MESSAGES, meter=RecordedMeter(snapshots=[0.0]))


def test_the_endpoint_meter_splits_hits_by_source_from_recorded_counters():
    before, after = (parse_counters((FIXTURES / f).read_text()) for f in ("vllm_metrics_after_cold.txt", "vllm_metrics_after_hit.txt"))
    meter = EndpointMeter(ENDPOINT)
    instance, hits = meter.attribute({"vllm": before, "lmcache": None}, {"vllm": after, "lmcache": None})
    assert instance == "" and (hits["lmcache_hit_tokens"], hits["device_hit_tokens"]) == (3584, 0)
    assert meter.attribute({"vllm": before, "lmcache": None}, None) == ("", None), "no /metrics after: unknown, never guessed"


def test_the_endpoint_meter_off_per_call_takes_no_snapshot_and_a_failed_call_stops_the_run():
    meter = EndpointMeter(ENDPOINT, per_call=False)
    assert meter.snapshot() is None  # no LMCache server named: nothing to check either
    with pytest.raises(UserError, match="refused"):
        meter.failed(UserError("refused"))
