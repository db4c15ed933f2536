"""What one streamed chat call gave, the same from either streamer (``clients.chat_stream`` through
langchain-openai, ``clients.bare_stream`` through httpx).

TTFT runs from sending the request to the first streamed chunk with content, as in vLLM's own
benchmarks; usage, cached tokens included, comes from the final chunk (``stream_options.include_usage``).
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True)
class StreamResult:
    started_at: float  # wall clock (epoch seconds) when the request was sent
    ttft_ms: float
    total_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    answer: str = ""
    # vLLM's request id (chatcmpl-...), which LMCache's log lines name; "" where the streamer does not
    # see it (langchain-openai keeps no chunk id of a chat completion stream).
    response_id: str = ""
    answer_logprobs: str = ""  # JSON, where logprobs were asked for (``chat_stream._compact_logprobs``)

    def fields(self) -> dict:
        """The result as ``CallRecord`` fields (every field here is one)."""
        return asdict(self)
