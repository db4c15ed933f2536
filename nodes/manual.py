"""Node: load the manual and fit it to the model's context window."""

from langgraph.runtime import Runtime

from graphs.context import Context
from graphs.state import State
from lab.errors import UserError
from prompts.layouts import static_prefix
from prompts.manual import builtin_manual, cut_to_budget, read_manual

# Context kept free for the instructions and question after the manual, besides the answer.
QUESTION_RESERVE_TOKENS = 256


def context_limit(max_model_len: int, max_tokens: int) -> int:
    """Tokens the static prefix may take: the context less the answer and the question's reserve."""
    return max_model_len - max_tokens - QUESTION_RESERVE_TOKENS


def length_problem(path: str, total: int, overhead: int, limit: int) -> str | None:
    """Why your own manual (``total`` tokens with the system text's ``overhead``) cannot be used whole, or None."""
    if total <= limit:
        return None
    return (f"manual {path} is {total - overhead} tokens; with the system text it needs {total} of the "
            f"{limit} tokens the context leaves after the question and answer; shorten it or pass --manual-tokens N to cut it")  # fmt: skip


def budget_problem(manual_tokens: int, overhead: int, limit: int) -> str | None:
    """Why a budget of ``manual_tokens`` cannot fit, or None."""
    if manual_tokens + overhead <= limit:
        return None
    return (f"a manual of {manual_tokens} tokens does not fit: the context leaves {limit - overhead} tokens for it "
            f"after the system text, question and answer; lower --manual-tokens")  # fmt: skip


def load_manual(state: State, runtime: Runtime[Context]) -> dict:
    """Reads ``context.manual_path`` (or the built-in manual) and returns ``manual``, cut or checked
    so that the static prefix leaves room for a question and an answer, and its measured
    size ``manual_size_tokens``."""
    ctx = runtime.context

    def prefix_tokens(manual: str) -> int:
        msg = [{"role": "system", "content": static_prefix(manual, state.manual_edition)}]
        return ctx.server.count_chat_tokens(msg, add_generation_prompt=False)

    overhead = prefix_tokens("")
    limit = context_limit(ctx.server.max_model_len(), ctx.max_tokens)
    own = bool(ctx.manual_path)
    text = read_manual(ctx.manual_path) if own else builtin_manual()
    if own and not ctx.truncate_manual:
        total = prefix_tokens(text)
        if problem := length_problem(ctx.manual_path, total, overhead, limit):
            raise UserError(problem)
        return {"manual": text, "manual_size_tokens": total - overhead}
    budget = ctx.manual_tokens + overhead
    if problem := budget_problem(ctx.manual_tokens, overhead, limit):
        raise UserError(problem)
    cut = cut_to_budget(text, prefix_tokens, budget, chunk_size=ctx.chunk_size)
    return {"manual": cut, "manual_size_tokens": prefix_tokens(cut) - overhead}
