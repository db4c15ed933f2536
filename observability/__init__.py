"""LangFuse tracing of graph runs, at the graph's edge: settings from the environment, the run's
callback handler and session, and per-call figures put on the trace by that handler. Nothing under
``nodes/`` or ``graphs/graph.py`` imports this package."""
