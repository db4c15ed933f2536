"""TTFT counts from the first streamed chunk, the one vLLM sends with the first generated token,
in both streamers: a reply whose first tokens are pieces of one multi-byte character streams them
as empty content, and waiting for text would add those decode steps to the TTFT (LangFuse's
completion start time and vLLM's own benchmark count from the first chunk)."""

import time
from dataclasses import asdict
from pathlib import Path

import httpx
from langchain_openai import ChatOpenAI

from clients.bare_stream import stream_chat
from clients.chat_stream import stream_timed
from clients.endpoint import Endpoint

# Recorded from the real vLLM server: the role chunk, two empty tokens, then "哈", then usage.
RECORDED = (Path(__file__).parent.parent / "fixtures" / "chat_stream_cjk.txt").read_bytes()
PAUSE_S = 0.5  # between the role chunk and the rest, as a slow decode would be


def paused_stream(request: httpx.Request) -> httpx.Response:
    events = RECORDED.split(b"\n\n")

    def body():
        yield events[0] + b"\n\n"
        time.sleep(PAUSE_S)
        for event in events[1:]:
            yield event + b"\n\n"

    return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})


def test_the_bare_streamer_times_the_role_chunk_not_the_first_text():
    with httpx.Client(transport=httpx.MockTransport(paused_stream)) as client:
        result = asdict(stream_chat(client, Endpoint(url="http://vllm/v1", model="m"), [], max_tokens=4, temperature=0))
    assert result["answer"] == "哈"
    assert result["total_ms"] - result["ttft_ms"] >= PAUSE_S * 1000
    assert result["served_by"] == "vllm-0.32.0-16704dfc", "the server's system_fingerprint, from the last chunk"


def test_the_graph_streamer_times_the_role_chunk_not_the_first_text():
    llm = ChatOpenAI(base_url="http://vllm/v1", api_key="EMPTY", model="m", streaming=True, stream_usage=True,
                     max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(paused_stream)))  # fmt: skip
    result = stream_timed(llm, [{"role": "user", "content": "q"}])
    assert result.answer == "哈" and result.completion_tokens == 4
    assert result.total_ms - result.ttft_ms >= PAUSE_S * 1000
