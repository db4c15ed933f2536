"""The graphs as served by ``langgraph dev`` (LangGraph Studio), traced in LangFuse when the keys are set.

Registered in the root ``langgraph.json`` as ``"graphs.studio:traced_graph"`` (qa) and
``"graphs.studio:traced_agent_graph"`` (agent) and ``"graphs.studio:traced_tool_loop_graph"`` (tool_loop) (module form: it resolves
from any working folder with the repository on PYTHONPATH); it lives next to the graph it serves, as
in LangChain's react-agent template, and is the one module here that imports tracing. The server
calls it for every run with the run's config and runs the graph it returns asynchronously; the
tracing handler puts per-call figures on the trace without any current-span context
(``observability.handler``).
Each Studio thread is one LangFuse session; run metadata ``scenario`` and ``variant`` (or
``variants``, one per question) become tags and per-call labels, and default to empty.
"""

import logging
import os
import threading

from langchain_core.runnables import RunnableConfig

from graphs.agent import graph as agent_graph
from graphs.context import Context
from graphs.graph import graph
from graphs.tool_loop import graph as tool_loop_graph
from lab.settings import with_resolved_defaults
from observability.tracing import Tracing

log = logging.getLogger(__name__)
_tracing: Tracing | None = None
_lock = threading.Lock()


def studio_tracing() -> Tracing:
    """One Tracing for the server process; its notice is logged once."""
    global _tracing
    with _lock:
        if _tracing is None:
            # The server keeps running: the SDK sends in the background, its own logs stay visible.
            _tracing = Tracing.from_env("studio", dict(os.environ), quiet_sdk_logs=False)
            (log.warning if _tracing.warning else log.info)(_tracing.notice)
        return _tracing


def _traced(compiled, config: RunnableConfig):
    """``compiled`` for one Studio run: its Context defaults resolved from ``LMLAB_*`` and the
    profile, with the LangFuse handler bound to it."""
    studio = compiled.copy(update={"context_schema": with_resolved_defaults(Context)})
    tracing = studio_tracing()
    if not tracing.enabled:
        return studio
    meta = dict(config.get("metadata") or {})
    session = meta.get("langfuse_session_id") or (config.get("configurable") or {}).get("thread_id") or "studio"
    traced = tracing.apply({"metadata": meta}, session_id=str(session))
    langfuse_keys = {k: v for k, v in traced["metadata"].items() if k.startswith("langfuse_")}
    return studio.with_config(callbacks=traced["callbacks"], metadata=langfuse_keys)


def traced_graph(config: RunnableConfig):
    """Graph factory for ``langgraph dev``: the QA graph."""
    return _traced(graph, config)


def traced_agent_graph(config: RunnableConfig):
    """Graph factory for ``langgraph dev``: the agent graph (plan -> answer -> check)."""
    return _traced(agent_graph, config)


def traced_tool_loop_graph(config: RunnableConfig):
    """Graph factory for ``langgraph dev``: the tool-loop graph (call_model -> run_tool, turn after turn)."""
    return _traced(tool_loop_graph, config)
