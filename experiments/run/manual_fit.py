"""Does the run's manual fit the context? Counted with the local tokenizer before any server starts.

The graph's ``load_manual`` node checks the same on the served tokenizer once a server answers;
counted here first, a manual that cannot fit is refused in seconds with nothing started (no run
folder, no stack). It needs the stack's own model folder: with ``--endpoint`` (another server's
tokenizer and context) or a hub id on the gpu profile, the node alone checks.
"""

from collections.abc import Callable
from dataclasses import replace

from experiments.scenarios import scenario_class
from graphs.context import Context
from lab.errors import UserError
from nodes.manual import budget_problem, context_limit, length_problem
from prompts.layouts import static_prefix
from prompts.manual import read_manual
from serving.model import resolve_model_dir
from serving.settings import StackSettings

# As long as the editions plans give (f"edition {run_id}-{repeat}"), so the system text counts the same.
EDITION = "edition 20260101-000000-000000-0"
# The chat template's own tokens around the system message (SmolLM2's: 4), with room to spare.
TEMPLATE_TOKENS = 32


def manual_problem(context: Context, max_model_len: int, count: Callable[[str], int]) -> str | None:
    """Why ``context``'s manual cannot fit ``max_model_len``, or None; ``count(manual)``: the tokens of
    the static prefix holding it. The same rule, and words, as the ``load_manual`` node."""
    overhead = count("")
    limit = context_limit(max_model_len, context.max_tokens)
    if context.manual_path and not context.truncate_manual:
        return length_problem(context.manual_path, count(read_manual(context.manual_path)), overhead, limit)
    return budget_problem(context.manual_tokens, overhead, limit)


def local_counter(stack: StackSettings, log=print) -> Callable[[str], int] | None:
    """Counts a static prefix's tokens with the stack's model folder (provisioned if need be, as
    the launcher would); None when there is no local folder to read."""
    from prompts.tokenizers import LocalTokenizer  # transformers: a few seconds, only when counting

    folder = resolve_model_dir(stack.model_dir, log=log, hub_ids=stack.gpu)
    if isinstance(folder, str):
        return None  # a hub id: vLLM fetches it, and the node checks on its tokenizer
    try:
        tokenizer = LocalTokenizer(folder)

        def count(manual: str) -> int:
            message = {"role": "system", "content": static_prefix(manual, EDITION)}
            return len(tokenizer.chat_ids([message], add_generation_prompt=False))

        count("")  # a folder without a chat template fails here, not mid-check
    except (OSError, ValueError, KeyError):
        return None  # a folder transformers cannot read is the launcher's to report, in vLLM's words
    return count


def surely_fits(context: Context, max_model_len: int) -> bool:
    """Whether the manual fits whatever the tokenizer says. No tokenizer makes more tokens of a text
    than it has UTF-8 bytes, so the bytes of the system text and the manual (plus room for the chat
    template's markers) under the limit prove it; loading the tokenizer takes several seconds, which
    every run would pay, so it counts only when they do not."""
    overhead = len(static_prefix("", EDITION).encode()) + TEMPLATE_TOKENS
    limit = context_limit(max_model_len, context.max_tokens)
    if context.manual_path and not context.truncate_manual:
        return len(read_manual(context.manual_path).encode()) + overhead <= limit
    return context.manual_tokens + overhead <= limit


def check_manual_fits(spec, log=print) -> None:
    """Raise ``UserError`` when ``spec``'s manual cannot fit the context of the stack it would start."""
    scenario = scenario_class(spec.args.scenario)
    if spec.stack is None or scenario.pinned_context.get("truncate_manual"):
        return  # --endpoint: that server decides; a scenario that picks its own sizes cuts the manual to them
    context = replace(spec.context, **scenario.pinned_context)
    if surely_fits(context, spec.stack.max_model_len):
        return
    count = local_counter(spec.stack, log)
    if count is not None and (problem := manual_problem(context, spec.stack.max_model_len, count)):
        raise UserError(problem)
