"""What one streamed chat call gave, the same from either streamer (``clients.chat_stream`` through
langchain-openai, ``clients.bare_stream`` through httpx).

TTFT runs from sending the request to the first streamed chunk with a choice: vLLM sends it (the
role, empty content) with the first generated token, and its own benchmark
(``vllm/benchmarks/lib/endpoint_request_func.py``) and LangFuse's completion start time count from it.
Waiting for text instead would add decode steps whenever the first tokens are pieces of one
multi-byte character (``λ``, CJK), which vLLM streams as empty content; usage, cached tokens included, comes from the final chunk (``stream_options.include_usage``).
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
    served_by: str = ""  # the system_fingerprint of the stream's last chunk (``CallRecord.served_by``)
    answer_logprobs: str = ""  # JSON, where logprobs were asked for (``chat_stream._compact_logprobs``)

    @classmethod
    def timed(cls, started_at: float, start: float, first: float | None, end: float, **figures) -> "StreamResult":
        """From ``time.time()`` at the send and ``perf_counter`` readings at the send, the first chunk
        (None: none came, TTFT is then the whole call) and the end; ``figures``: usage and answer."""
        return cls(started_at=round(started_at, 3), ttft_ms=round(((first or end) - start) * 1000, 2),
                   total_ms=round((end - start) * 1000, 2), **figures)  # fmt: skip

    def fields(self) -> dict:
        """The result as ``CallRecord`` fields (every field here is one)."""
        return asdict(self)
