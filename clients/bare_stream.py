"""A bare streaming chat call (httpx, no LangChain or LangGraph): the floor the harness is measured against.

It times the call as ``clients.chat_stream`` does and returns the same ``StreamResult`` (without
logprobs: the bare client never asks for them).
"""

import json
import time
from dataclasses import dataclass, field

import httpx

from clients.endpoint import Endpoint
from clients.stream_result import StreamResult
from lab.errors import ServerGone, UserError


def chat_body(model: str, messages: list[dict], max_tokens: int, temperature: float) -> dict:
    return {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def parse_sse_line(line: str) -> dict | None:
    """One ``data: {...}`` line of the event stream as a dict; None for blank lines, comments and ``[DONE]``."""
    if not line.startswith("data:"):
        return None
    data = line[len("data:") :].strip()
    return None if data == "[DONE]" else json.loads(data)


def stream_chat(
    client: httpx.Client,
    endpoint: Endpoint,
    messages: list[dict],
    *,
    max_tokens: int,
    temperature: float,
    headers: dict[str, str] | None = None,
) -> StreamResult:
    """Stream one ``/v1/chat/completions`` call and time it (``headers``: extra request headers,
    such as the session id a router hashes)."""
    url = endpoint.url.rstrip("/") + "/chat/completions"
    body = chat_body(endpoint.model, messages, max_tokens, temperature)
    parts: list[str] = []
    usage: dict = {}
    first = None
    response_id = None
    served_by = ""
    started_at = time.time()
    start = time.perf_counter()
    try:
        with client.stream("POST", url, json=body, headers=dict(headers or {}) | endpoint.headers, timeout=endpoint.timeout_s) as resp:
            if resp.status_code != 200:
                resp.read()
                raise UserError(f"{endpoint.url} refused the call ({resp.status_code}): {resp.text[:200]}")
            for line in resp.iter_lines():
                chunk = parse_sse_line(line)
                if chunk is None:
                    continue
                response_id = response_id or chunk.get("id")
                served_by = chunk.get("system_fingerprint") or served_by
                for choice in chunk.get("choices") or []:
                    if first is None:  # the role chunk, sent with the first token (clients.stream_result)
                        first = time.perf_counter()
                    parts.append((choice.get("delta") or {}).get("content") or "")
                usage = chunk.get("usage") or usage
    except httpx.TransportError:
        raise ServerGone(f"lost the connection to vLLM at {endpoint.url} during a call") from None
    end = time.perf_counter()
    return StreamResult.timed(
        started_at, start, first, end,
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        answer="".join(parts),
        response_id=response_id or "",
        served_by=served_by,
    )


@dataclass(frozen=True)
class BareStreamer:
    """``stream_chat`` as a streamer of ``clients.measured.measured_call``, on one open httpx client."""

    http: httpx.Client
    max_tokens: int
    temperature: float
    headers: dict[str, str] = field(default_factory=dict)

    def __call__(self, endpoint: Endpoint, messages: list[dict]) -> StreamResult:
        return stream_chat(self.http, endpoint, messages, max_tokens=self.max_tokens, temperature=self.temperature,
                           headers=self.headers)  # fmt: skip
