"""Node: before the call, predict from the real token stream how many prompt tokens the cache can serve."""

from langgraph.runtime import Runtime

from clients.measured import predict
from graphs.context import Context
from graphs.state import State


def predict_cache(state: State, runtime: Runtime[Context]) -> dict:
    """Reads ``messages`` and ``prompt_token_ids`` (the session's earlier prompts); returns
    ``prediction`` (tokens shared with the closest earlier prompt, the chunk-aligned cacheable part,
    and the text where they part) and appends this prompt's ids to ``prompt_token_ids``."""
    prediction, ids = predict(runtime.context, state.messages, state.prompt_token_ids)
    return {"prediction": prediction, "prompt_token_ids": [ids]}
