"""Asking for a JSON schema: it travels in the body of the ordinary streaming call; an endpoint that
answers it with HTTP 400 is asked again in free text, and the call's row says so.

The streamer is checked on a replayed vLLM stream; the nodes on a stand-in for the measured call."""

import functools
import json
from pathlib import Path

import httpx
import pytest
from langchain_openai import ChatOpenAI
from langgraph.runtime import Runtime

import clients.chat_stream as chat_stream
import nodes.agent_call as agent_call
from clients.chat_stream import ChatStreamer, SchemaRefused
from clients.endpoint import Endpoint
from experiments.bench_replies import fresh_schema
from graphs.agent_state import AgentState
from graphs.context import Context
from lab.errors import UserError
from metrics.records import CallRecord
from nodes.answer import answer
from nodes.check import check
from nodes.plan import plan
from prompts.agent import REPLY_FORMATS
from prompts.agent_output import REPLY_MAX_TOKENS, response_format

FIXTURES = Path(__file__).parent.parent / "fixtures"
ENDPOINT = Endpoint(url="http://vllm/v1", model="smollm2-135m-instruct")
MESSAGES = [{"role": "user", "content": "q"}]


@pytest.fixture
def server(monkeypatch):
    """A stand-in vLLM: records each request's body, answers with ``reply`` (a status code, or the
    recorded stream), through the streamer's own ChatOpenAI."""
    seen: list[dict] = []
    reply = {"status": 200}

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if reply["status"] == "stream error":  # what vLLM streams for a schema it cannot compile
            event = {"error": {"message": "Grammar error: Invalid type: nosuchtype", "type": "BadRequestError", "code": 400}}
            return httpx.Response(200, content=f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n".encode(),
                                  headers={"content-type": "text/event-stream"})  # fmt: skip
        if reply["status"] != 200:
            return httpx.Response(reply["status"], json={"error": {"message": "structured outputs are not supported", "code": 400}})
        return httpx.Response(200, content=(FIXTURES / "chat_stream.txt").read_bytes(), headers={"content-type": "text/event-stream"})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    monkeypatch.setattr(chat_stream, "ChatOpenAI", functools.partial(ChatOpenAI, http_client=http))
    yield seen, reply
    http.close()


def test_the_schema_travels_in_the_body_of_the_ordinary_streaming_call(server):
    seen, _ = server
    result = ChatStreamer(8, 0.0, response_format=response_format("plan"))(ENDPOINT, MESSAGES)
    (body,) = seen
    assert body["response_format"] == response_format("plan")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    # Streamed and read as any other call: the replayed answer and its usage, once.
    assert result.answer.startswith("The") and result.completion_tokens > 0


def test_a_call_without_a_schema_sends_none(server):
    seen, _ = server
    ChatStreamer(8, 0.0)(ENDPOINT, MESSAGES)
    assert "response_format" not in seen[0]


def test_an_endpoint_that_answers_a_schema_with_400_refuses_it(server):
    _, reply = server
    reply["status"] = 400
    with pytest.raises(SchemaRefused, match="refused the JSON schema"):
        ChatStreamer(8, 0.0, response_format=response_format("check"))(ENDPOINT, MESSAGES)
    # The same 400 without a schema is the call's own fault, refused as before.
    with pytest.raises(UserError, match="refused the call") as err:
        ChatStreamer(8, 0.0)(ENDPOINT, MESSAGES)
    assert not isinstance(err.value, SchemaRefused)


def test_a_schema_the_server_cannot_compile_is_refused_too(server):
    _, reply = server
    reply["status"] = "stream error"  # HTTP 200, then an error event with code 400
    with pytest.raises(SchemaRefused, match="Grammar error"):
        ChatStreamer(8, 0.0, response_format=response_format("plan"))(ENDPOINT, MESSAGES)


class StandIn:
    """``measured_call`` as an endpoint would answer it: the reply for the format asked, or a refusal
    of every schema when ``refuses``. Keeps each call's streamer and messages."""

    def __init__(self, replies: dict[str, str], refuses: bool = False):
        self.replies, self.refuses, self.calls = replies, refuses, []

    def __call__(self, endpoint, streamer, messages, **labels):
        self.calls.append((streamer, messages))
        if streamer.response_format is not None and self.refuses:
            raise SchemaRefused("http://vllm/v1 refused the JSON schema (400): structured outputs are not supported")
        fmt = "json_schema" if streamer.response_format else "free_text"
        return CallRecord(node=labels["node"], reply_format=labels["reply_format"], answer=self.replies[fmt]), [1, 2, 3]


def state(**kw) -> AgentState:
    return AgentState(questions=["What does the assert statement do?"], static_prefix="MANUAL", **kw)


PLANS = {"json_schema": '{"look_for": ["assert", "AssertionError"]}', "free_text": "LOOK FOR: assert; AssertionError"}
VERDICTS = {"json_schema": '{"verdict": "REJECT", "reason": "too vague"}', "free_text": "REJECT: too vague"}


def test_the_planner_replies_in_json_held_to_its_schema_with_its_own_token_cap(monkeypatch):
    stand_in = StandIn(PLANS)
    monkeypatch.setattr(agent_call, "measured_call", stand_in)
    update = plan(state(), Runtime(context=Context(max_tokens=1)), {})
    (record,) = update["calls"]
    assert update["plan"] == "assert; AssertionError"
    assert (record.reply_format, record.fallback) == ("json_schema", "")
    ((streamer, messages),) = stand_in.calls
    assert streamer.response_format == response_format("plan") and streamer.max_tokens == REPLY_MAX_TOKENS
    # The format text is in the node's own message, after the manual: the static prefix is unchanged.
    assert messages[0]["content"] == "MANUAL" and messages[-1]["content"].endswith(REPLY_FORMATS["json_schema"]["plan"])


def test_a_refused_schema_is_asked_again_in_free_text_and_the_row_says_why(monkeypatch):
    stand_in = StandIn(PLANS, refuses=True)
    monkeypatch.setattr(agent_call, "measured_call", stand_in)
    update = plan(state(), Runtime(context=Context(max_tokens=32)), {})
    (record,) = update["calls"]
    assert update["plan"] == "assert; AssertionError"  # read from the free-text reply
    assert record.reply_format == "free_text"
    assert "refused the JSON schema" in record.fallback and record.fallback.endswith("asked in free text")
    (_, first), (retry, messages) = stand_in.calls
    assert retry.response_format is None and retry.max_tokens == 32
    assert messages[-1]["content"].endswith(REPLY_FORMATS["free_text"]["plan"])
    assert first[0] == messages[0]  # the same static prefix either way


def test_the_checker_reads_its_verdict_in_the_format_it_was_asked(monkeypatch):
    for refuses in (False, True):
        monkeypatch.setattr(agent_call, "measured_call", StandIn(VERDICTS, refuses))
        update = check(state(answer="It checks.", attempts=1), Runtime(context=Context()), {})
        assert (update["accepted"], update["reason"]) == (False, "too vague")
        assert update["calls"][0].reply_format == ("free_text" if refuses else "json_schema")


def test_the_answer_node_replies_in_prose(monkeypatch):
    stand_in = StandIn({"free_text": "It checks a condition."})
    monkeypatch.setattr(agent_call, "measured_call", stand_in)
    update = answer(state(plan="assert"), Runtime(context=Context(max_tokens=7)), {})
    ((streamer, _),) = stand_in.calls
    assert streamer.response_format is None and streamer.max_tokens == 7 and update["calls"][0].reply_format == ""


def test_free_text_replies_send_no_schema(monkeypatch):
    stand_in = StandIn(PLANS)
    monkeypatch.setattr(agent_call, "measured_call", stand_in)
    update = plan(state(), Runtime(context=Context(replies="free_text")), {})
    assert stand_in.calls[0][0].response_format is None and update["calls"][0].reply_format == "free_text"


def test_an_unknown_reply_format_is_refused_with_the_valid_ones():
    with pytest.raises(UserError, match="valid: json_schema, free_text"):
        plan(state(), Runtime(context=Context(replies="yaml")), {})


def test_the_bench_makes_each_rounds_schema_new_text_for_the_same_grammar():
    a, b = fresh_schema("plan", 0, "t"), fresh_schema("plan", 1, "t")
    assert a["json_schema"]["schema"]["description"] != b["json_schema"]["schema"]["description"]

    def without_description(rf: dict) -> dict:
        return {k: v for k, v in rf["json_schema"]["schema"].items() if k != "description"}

    assert without_description(a) == without_description(b) == without_description(response_format("plan"))
