"""A bare streaming chat call (httpx, no LangChain or LangGraph): the floor the harness is measured against.

TTFT means what it means in ``nodes.generate.stream_timed`` and vLLM's own benchmarks: from sending
the request to the first streamed chunk with content. Usage, cached tokens included, comes from the
final chunk (``stream_options.include_usage``). The result holds the same ``CallRecord`` fields as
``clients.measured.stream_timed`` (no logprobs: the bare client never asks for them).
"""

import json
import time

import httpx

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
    endpoint: str,
    model: str,
    messages: list[dict],
    *,
    max_tokens: int,
    temperature: float,
    api_key: str = "",
    timeout: float = 600.0,
    headers: dict[str, str] | None = None,
) -> dict:
    """Stream one ``/v1/chat/completions`` call and time it (``headers``: extra request headers,
    such as the session id a router hashes)."""
    url = endpoint.rstrip("/") + "/chat/completions"
    headers = dict(headers or {}) | ({"Authorization": f"Bearer {api_key}"} if api_key and api_key != "EMPTY" else {})
    body = chat_body(model, messages, max_tokens, temperature)
    parts: list[str] = []
    usage: dict = {}
    first = None
    response_id = None
    started_at = time.time()
    start = time.perf_counter()
    try:
        with client.stream("POST", url, json=body, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200:
                resp.read()
                raise UserError(f"{endpoint} refused the call ({resp.status_code}): {resp.text[:200]}")
            for line in resp.iter_lines():
                chunk = parse_sse_line(line)
                if chunk is None:
                    continue
                response_id = response_id or chunk.get("id")
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        if first is None:
                            first = time.perf_counter()
                        parts.append(text)
                usage = chunk.get("usage") or usage
    except httpx.TransportError:
        raise ServerGone(f"lost the connection to vLLM at {endpoint} during a call") from None
    end = time.perf_counter()
    return {
        "started_at": round(started_at, 3),
        "ttft_ms": round(((first or end) - start) * 1000, 2),
        "total_ms": round((end - start) * 1000, 2),
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        "answer": "".join(parts),
        "response_id": response_id,  # vLLM's request id (chatcmpl-...): LMCache's log lines name it
    }
