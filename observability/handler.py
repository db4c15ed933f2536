"""The LangChain callback handler a traced graph run gets: LangFuse's, plus each call's figures.

LangFuse's ``CallbackHandler`` turns every graph node into an observation. This subclass also puts
each finished call's figures (``observability.calls``) on the observation of the node that returned
the call record, read from that node's output when it ends: the graph itself knows nothing of
tracing. It works the same in sync and async runs (``ainvoke``, ``astream``, ``langgraph dev``),
where ``update_current_span`` finds no span (langfuse issue #8010), because it never needs a
current context of the node: the node's OpenTelemetry span is taken when it starts, from the context
LangFuse's handler has just made current (public OpenTelemetry API), and the figures are written on
it before LangFuse's handler ends it, with LangFuse's documented attribute names
(``langfuse.observation.metadata.<key>``). Scores go through the client's public ``create_score``.
``tests/unit/test_tracing_handler.py`` fails if a new SDK stops making the node's span current.
"""

import json
import logging
from typing import Any
from uuid import UUID

from langfuse import LangfuseOtelSpanAttributes, get_client
from langfuse.langchain import CallbackHandler
from opentelemetry import trace

from observability.calls import call_metadata, call_scores, recorded_calls, scored

log = logging.getLogger(__name__)


def span_ids(span) -> tuple[str, str]:
    """LangFuse's trace and observation ids of an OpenTelemetry span (W3C hex)."""
    ctx = span.get_span_context()
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)


class CallFiguresHandler(CallbackHandler):
    """``CallFiguresHandler(public_key=...)`` in a graph run's callbacks, instead of LangFuse's own.

    ``on_call(record, run_metadata, span)`` (optional) hears of every traced call while its node's
    span is still open, e.g. to label it as an experiment item."""

    def __init__(self, *, public_key: str, on_call=None, **kwargs):
        super().__init__(public_key=public_key, **kwargs)
        self.client = get_client(public_key=public_key)
        self.on_call = on_call
        self._node_spans: dict[UUID, tuple[Any, dict]] = {}  # run id -> (open span, run metadata)

    def on_chain_start(self, serialized, inputs, *, run_id: UUID, parent_run_id=None, metadata=None, **kwargs):
        before = trace.get_current_span()
        result = super().on_chain_start(
            serialized, inputs, run_id=run_id, parent_run_id=parent_run_id, metadata=metadata, **kwargs
        )
        span = trace.get_current_span()
        # Graph nodes only (LangGraph labels their runs); the root run has no parent.
        if parent_run_id is not None and span is not before and span.is_recording() and "langgraph_node" in (metadata or {}):
            self._node_spans[run_id] = (span, dict(metadata or {}))
        return result

    def on_chain_end(self, outputs, *, run_id: UUID, parent_run_id=None, **kwargs):
        node = self._node_spans.pop(run_id, None)
        if node is not None:
            self._annotate(*node, recorded_calls(outputs))
        return super().on_chain_end(outputs, run_id=run_id, parent_run_id=parent_run_id, **kwargs)

    def on_chain_error(self, error, *, run_id: UUID, **kwargs):
        self._node_spans.pop(run_id, None)
        return super().on_chain_error(error, run_id=run_id, **kwargs)

    def _annotate(self, span, metadata: dict, calls: list) -> None:
        """Metadata and scores of the node's calls on its span; scores also on the trace."""
        try:
            trace_id, observation_id = span_ids(span)
            for record in (scored(r, metadata) for r in calls):  # expected and correct, as results.csv gets them
                for key, value in call_metadata(record, metadata).items():
                    span.set_attribute(f"{LangfuseOtelSpanAttributes.OBSERVATION_METADATA}.{key}", json.dumps(value, default=str))
                for name, value in call_scores(record).items():
                    self.client.create_score(name=name, value=value, trace_id=trace_id, observation_id=observation_id,
                                             data_type="NUMERIC")  # fmt: skip
                    self.client.create_score(name=name, value=value, trace_id=trace_id, data_type="NUMERIC")
                if self.on_call is not None:
                    self.on_call(record, metadata, span)
        except Exception as err:  # tracing must never cost a measurement
            log.warning("could not annotate the LangFuse observation: %s", err)
