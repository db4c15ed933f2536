"""The graphs' streamer: one chat call through langchain-openai's ``ChatOpenAI``, timed, with a failed
call put down to its cause. LangFuse sees it as a generation (TTFT from its first streamed chunk)."""

import json
import time
from dataclasses import dataclass

import openai
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI

from clients.endpoint import Endpoint
from clients.measured import lmcache_counters
from clients.stream_result import StreamResult
from lab.errors import ServerGone, UserError


class SchemaRefused(UserError):
    """The endpoint answered a 400 to a call that asked for a JSON schema (``response_format``)."""


def chat_model(endpoint: Endpoint, max_tokens: int, temperature: float, logprobs: bool = False,
               response_format: dict | None = None) -> ChatOpenAI:  # fmt: skip
    # streaming + stream_usage: the final chunk carries usage (cached tokens included), and LangFuse
    # derives TTFT from the first streamed chunk.
    #
    # The schema goes in the request body (extra_body), not through ChatOpenAI's own
    # ``response_format``: with that one in the payload, langchain-openai 1.7's ``_stream`` (checked in
    # langchain_openai/chat_models/base.py) switches to the SDK's beta helper
    # ``root_client.beta.chat.completions.stream``, which yields events instead of chunks, drops the
    # streamed usage chunk for one rebuilt from the final completion, ignores include_response_headers,
    # and with a pydantic schema raises LengthFinishReasonError on a reply cut at max_tokens. In the
    # body, the constrained call streams through the same ``client.create(stream=True)`` path as every
    # other call, so both are timed alike; vLLM reads ``response_format`` from the body either way.
    return ChatOpenAI(
        base_url=endpoint.url,
        api_key=endpoint.api_key or "EMPTY",
        model=endpoint.model,
        temperature=temperature,
        max_tokens=max_tokens,
        streaming=True,
        stream_usage=True,
        timeout=endpoint.timeout_s,
        max_retries=0,
        **({"logprobs": True, "top_logprobs": 2} if logprobs else {}),
        **({"extra_body": {"response_format": response_format}} if response_format else {}),
    )


def stream_timed(llm: ChatOpenAI, messages: list[dict], config: RunnableConfig | None = None) -> StreamResult:
    """Stream one call. TTFT runs from sending the request to the first chunk (``clients.stream_result``);
    usage comes from the final chunk."""
    started_at = time.time()
    start = time.perf_counter()
    first = None
    message = None
    for chunk in llm.stream(messages, config=config):
        if first is None:  # the role chunk, sent with the first token (content may still be empty)
            first = time.perf_counter()
        message = chunk if message is None else message + chunk
    end = time.perf_counter()
    usage = (message.usage_metadata if message is not None else None) or {}
    return StreamResult.timed(
        started_at, start, first, end,
        prompt_tokens=usage.get("input_tokens", 0),
        completion_tokens=usage.get("output_tokens", 0),
        cached_tokens=(usage.get("input_token_details") or {}).get("cache_read", 0),
        answer=message.content if message is not None else "",
        answer_logprobs=_compact_logprobs(message.response_metadata.get("logprobs") if message is not None else None),
    )


def _compact_logprobs(logprobs: dict | None) -> str:
    """JSON list of [token, logprob, runner-up token, runner-up logprob]; empty when not requested."""
    if not logprobs or not logprobs.get("content"):
        return ""
    rows = []
    for t in logprobs["content"]:
        second = (t.get("top_logprobs") or [{}, {}])[1:2] or [{}]
        rows.append([t["token"], round(t["logprob"], 5), second[0].get("token"), round(second[0].get("logprob", float("nan")), 5)])
    return json.dumps(rows)


def _is_400(err: openai.APIError) -> bool:
    """A 400 as the HTTP status, or, on a stream already answered 200, as the code of its error event:
    vLLM 0.32 streams a schema its grammar backend cannot compile that way (``Grammar error: ...``)."""
    return isinstance(err, openai.BadRequestError) or (not isinstance(err, openai.APIStatusError) and err.code in (400, "400"))


@dataclass(frozen=True)
class ChatStreamer:
    """``stream_timed`` as a streamer of ``clients.measured.measured_call``: the model built for the
    endpoint with these sampling settings, the graph run's ``config`` passed on (tracing callbacks).
    ``response_format``: the JSON schema the reply is held to (None: free text); an endpoint that
    answers it with a 400 raises ``SchemaRefused``, so the caller can ask again without one."""

    max_tokens: int
    temperature: float
    logprobs: bool = False
    config: RunnableConfig | None = None
    response_format: dict | None = None

    def __call__(self, endpoint: Endpoint, messages: list[dict]) -> StreamResult:
        llm = chat_model(endpoint, self.max_tokens, self.temperature, self.logprobs, self.response_format)
        try:
            return stream_timed(llm, messages, self.config)
        except openai.APIError as err:
            # A call that fails while the LMCache server is dead (a 500 or a broken stream): put that
            # down to LMCache, which is the cause.
            lmcache_counters(endpoint)
            if isinstance(err, openai.APIConnectionError):  # timeouts included
                raise ServerGone(f"lost the connection to vLLM at {endpoint.url} during a call") from None
            if self.response_format is not None and _is_400(err):
                # Any 400 while a schema was asked: the caller retries in free text, where a 400 for
                # another cause (a prompt too long) comes back as the UserError below.
                raise SchemaRefused(f"{endpoint.url} refused the JSON schema (400): {err.message}") from None
            if isinstance(err, openai.NotFoundError):
                raise UserError(f"model {endpoint.model!r} is not served at {endpoint.url}; check --model / LMLAB_MODEL") from None
            if isinstance(err, openai.APIStatusError):
                raise UserError(f"{endpoint.url} refused the call ({err.status_code}): {err.message}") from None
            raise
