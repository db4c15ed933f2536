"""Node: before the call, predict from the real token stream how many prompt tokens the cache can serve."""

from langgraph.runtime import Runtime

from clients.vllm import detokenize, tokenize_chat
from graphs.context import Context
from graphs.state import State
from prompts.prefix_analysis import cacheable_tokens, difference_snippet, longest_shared


def predict_cache(state: State, runtime: Runtime[Context]) -> dict:
    """Reads ``messages`` and ``prompt_token_ids`` (the session's earlier prompts); returns
    ``prediction`` (tokens shared with the closest earlier prompt, the chunk-aligned cacheable part,
    and the text where they part) and appends this prompt's ids to ``prompt_token_ids``."""
    ctx = runtime.context or Context()
    # The server's own rendering (chat template + tokenizer), so the prediction sees what the cache sees.
    ids = tokenize_chat(ctx.endpoint, ctx.model, state.messages, add_generation_prompt=True, api_key=ctx.api_key)
    shared, closest = longest_shared(ids, state.prompt_token_ids)
    where = ""
    if closest is not None and shared < len(ids):
        where = difference_snippet(lambda t: detokenize(ctx.endpoint, ctx.model, t, ctx.api_key), ids, shared)
    prediction = {
        "prompt_tokens_predicted": len(ids),
        "shared_prefix_tokens": shared,
        "predicted_cached_tokens": cacheable_tokens(shared, len(ids), ctx.chunk_size),
        "first_difference": where,
    }
    return {"prediction": prediction, "prompt_token_ids": [ids]}
