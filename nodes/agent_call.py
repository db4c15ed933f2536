"""The one LLM call every agent node makes: its prompt per the agent layout, measured like any call.

The measuring (prediction from the token stream, /metrics around the streamed ``ChatOpenAI``
call, the record) is ``clients.measured.measured_call``, shared with every other client path;
this module only builds the node's prompt, asks for its reply format and labels its record.
"""

from dataclasses import replace

from langchain_core.runnables import RunnableConfig

from clients.chat_stream import ChatStreamer, SchemaRefused
from clients.measured import EndpointMeter, measured_call
from graphs.agent_state import AgentState
from graphs.context import Context
from metrics.records import CallRecord
from prompts.agent import REPLY_FORMATS, check_agent_settings, node_messages
from prompts.agent_output import REPLY_MAX_TOKENS, response_format


def turn_of(state: AgentState, ctx: Context) -> int | None:
    """The conversation turn (1, 2, ...) in the follow-up modes; None for independent questions."""
    return None if ctx.conversation == "independent" else state.question_index + 1


def node_call(state: AgentState, ctx: Context, config: RunnableConfig, node: str, task: str) -> tuple[CallRecord, list[int]]:
    """Make ``node``'s call with ``task`` (its inputs and the question) after the static prefix
    and the earlier turns; returns its record and its prompt's token ids.

    The planner and the checker reply in ``ctx.replies``'s format; an endpoint that refuses the
    JSON schema is asked again in free text, and the record's ``fallback`` says why."""
    # A run checks these before it starts; a Studio run's inputs reach the graph unchecked.
    check_agent_settings(ctx.agent_layout, ctx.conversation, ctx.check_verdict, ctx.answer_retries, ctx.replies)
    replies = ctx.replies if node in REPLY_FORMATS[ctx.replies] else ""
    if replies == "json_schema":
        try:
            return _call(state, ctx, config, node, task, replies)
        except SchemaRefused as refused:
            record, ids = _call(state, ctx, config, node, task, "free_text")
            return replace(record, fallback=f"{node}: {refused}; asked in free text"), ids
    return _call(state, ctx, config, node, task, replies)


def _call(state: AgentState, ctx: Context, config: RunnableConfig, node: str, task: str, replies: str) -> tuple[CallRecord, list[int]]:
    messages = node_messages(ctx.agent_layout, ctx.conversation, state.static_prefix, node, task, state.turns, replies or ctx.replies)
    # A schema-held reply has its own token cap (the schema bounds it); prose keeps Context.max_tokens.
    schema = response_format(node) if replies == "json_schema" else None
    streamer = ChatStreamer(REPLY_MAX_TOKENS if schema else ctx.max_tokens, ctx.temperature, ctx.logprobs, config, schema)
    return measured_call(
        ctx.server, streamer, messages,
        meter=EndpointMeter(ctx.server, ctx.metrics_per_call), earlier=state.prompt_token_ids, chunk_size=ctx.chunk_size,
        question_id=state.question_index, question=state.questions[state.question_index], node=node,
        turn=turn_of(state, ctx), layout=ctx.agent_layout, static_prefix_tokens=state.static_prefix_tokens,
        manual_tokens=state.manual_size_tokens, reply_format=replies,
    )  # fmt: skip


def recorded(record: CallRecord, ids: list[int], fallback: str = "") -> dict:
    """The state update that records a call, with what the node fell back to, if anything (a refused
    schema included). A traced run's callback handler puts its figures on the node's LangFuse
    observation (observability.handler)."""
    note = "; ".join(filter(None, [record.fallback, fallback]))
    return {"calls": [replace(record, fallback=note)], "prompt_token_ids": [ids]}
