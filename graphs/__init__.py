"""LangGraph state graphs: context (configuration), state, and the wiring of nodes."""
