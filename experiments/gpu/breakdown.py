"""``python -m experiments.gpu.breakdown OUT.json [MANUAL_TOKENS]``: what a long prompt costs before any KV moves.

Every request of a long prompt pays for rendering and tokenizing it on the server, cache hit or not;
the suffix-only floor does not. Against the running stack (``LMLAB_*`` settings), this builds the
chat with the graph's own nodes, as the ``overhead`` scenario's bare client does, and times vLLM's
``/tokenize`` on the whole chat and on the question alone: medians of 7 after one warm-up.
"""

import json
import statistics
import sys
import time
import uuid

import httpx

from experiments.run.clients import BARE
from experiments.run.plan import Session, questions_for
from graphs.context import Context
from lab.cli import command
from lab.settings import resolve
from prompts.layouts import dynamic_part
from serving.settings import StackSettings
from lab.errors import UserError


def timed_tokenize(ctx: Context, messages: list[dict], repeats: int = 7) -> tuple[float, int]:
    ctx.server.tokenize_chat(messages, add_generation_prompt=True)  # warm-up
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = len(ctx.server.tokenize_chat(messages, add_generation_prompt=True))
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1), count


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else None
    settings = resolve(StackSettings)
    ctx = resolve(Context, {"endpoint": settings.endpoint, "model": settings.served_model_name, "api_key": settings.api_key or "EMPTY",
                            "truncate_manual": True, "manual_tokens": int(argv[1]) if len(argv) > 1 else None})  # fmt: skip
    question = questions_for(0, 1)
    session = Session(name="breakdown", repeat=0, questions=question, variants=["bare"], edition=uuid.uuid4().hex,
                      context=ctx, client=BARE)  # fmt: skip
    try:
        _, messages, _ = next(BARE.prompts(session))
        full_ms, full_tokens = timed_tokenize(ctx, messages)
        suffix_ms, suffix_tokens = timed_tokenize(ctx, [{"role": "user", "content": dynamic_part(question[0])}])
    except httpx.HTTPError as err:
        raise UserError(f"the stack at {ctx.endpoint} did not answer ({err}); start it with `python -m serving up`") from None
    figures = {"manual_tokens": ctx.manual_tokens, "full_prompt_tokens": full_tokens, "tokenize_full_ms": full_ms,
               "suffix_tokens": suffix_tokens, "tokenize_suffix_ms": suffix_ms}  # fmt: skip
    text = json.dumps(figures, indent=2)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
