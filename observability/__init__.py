"""LangFuse tracing of graph runs: settings from the environment, the run's callback handler and
session, per-call figures on the node observations, and a local receiver for tests and benchmarks."""
