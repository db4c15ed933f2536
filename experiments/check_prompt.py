"""``python -m experiments.check_prompt``: why is my cache not hitting?

Renders your prompt twice, as your application would for two different questions, tokenizes both
with the model's own chat template and tokenizer, and shows where the first differing token is,
the text around it, and how many tokens a prefix cache could reuse (whole 256-token chunks).

    python -m experiments.check_prompt my_prompt.txt
    python -m experiments.check_prompt my_prompt.json --question "What is X?" --question "What is Y?"
    python -m experiments.check_prompt --layout timestamp_system

A text template is one user message, or ``--- system ---`` / ``--- user ---`` lines split it into
messages; a ``.json`` template is a list of chat messages. Placeholders: {question} (required),
{manual} (the manual: --manual or the built-in one, cut to --manual-tokens), {now} and
{request_id} (fresh in every rendering). The tokenizer is the local model folder of the lab's
stack (no server needed), or a running server's /tokenize with --endpoint.

With --turns it also checks that the chat template does not rewrite earlier turns: the first
rendering with one tool round (an assistant turn and a tool result) appended, and with two, must
give token sequences of which the first is a prefix of the second; where not, it shows the token
where they part. --chat-template FILE checks another Jinja template on the local tokenizer.
Exit codes: 0 checked, 2 bad input (one line on stderr).
"""

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from graphs.context import Context
from lab.cli import ArgumentParser, command
from lab.errors import UserError
from prompts.layouts import LAYOUTS, dynamic_part, get_layout, static_prefix
from prompts.manual import builtin_manual, cut_to_budget, read_manual
from prompts.prefix_analysis import PrefixReport, TurnReport, compare_renderings, compare_turns
from prompts.templates import DEFAULT_QUESTIONS
from prompts.tool_turns import EXAMPLE_CALL, EXAMPLE_RESULT, tool_round
from prompts.user_template import read_template, render, uses

DEFAULTS = Context()  # the graph's own defaults, so a check matches a default run

console = Console(width=None if sys.stdout.isatty() else 120, highlight=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m experiments.check_prompt", description=__doc__.split("\n\n")[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("template", nargs="?", help="your prompt template (text or .json) with a {question} placeholder")
    p.add_argument("--layout", help=f"check one of the lab's layouts instead: {', '.join(LAYOUTS)}")
    p.add_argument("--question", action="append", help="a question to render; give it twice (default: two built-in ones)")
    p.add_argument("--manual", help="text for {manual} (default: Python's documentation topics)")
    p.add_argument("--manual-tokens", type=int, default=DEFAULTS.manual_tokens,
                   help=f"cut the manual to this many tokens (default {DEFAULTS.manual_tokens})")
    p.add_argument("--max-tokens", type=int, default=DEFAULTS.max_tokens, help=f"context kept free for the answer (default {DEFAULTS.max_tokens})")
    p.add_argument("--chunk-size", type=int, default=DEFAULTS.chunk_size,
                   help=f"cache chunk size in tokens (default {DEFAULTS.chunk_size}, LMCache's)")
    p.add_argument("--endpoint", help="tokenize with this vLLM server's /tokenize instead of the local model folder")
    p.add_argument("--model", default=DEFAULTS.model, help="model name at --endpoint")
    p.add_argument("--model-dir", default="", help="local model folder (default: the lab's SmolLM2-135M-Instruct)")
    p.add_argument("--turns", action="store_true",
                   help="also check that the chat template keeps earlier turns as they were when a tool round is appended")
    p.add_argument("--chat-template", help="a Jinja chat template file to use instead of the model's (local tokenizer only)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    if bool(args.template) == bool(args.layout):
        raise UserError("pass either a template file or --layout NAME (one of them)")
    if args.question is not None and len(args.question) != 2:
        raise UserError(f"--question must be given twice (two renderings to compare), not {len(args.question)} time(s)")
    for flag in ("manual_tokens", "max_tokens", "chunk_size"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.layout:
        get_layout(args.layout)  # an unknown name lists the valid ones
    if args.chat_template and args.endpoint:
        raise UserError("--chat-template applies to the local tokenizer; the server at --endpoint renders its own")
    if args.chat_template and not Path(args.chat_template).is_file():
        raise UserError(f"chat template {args.chat_template} is not a file")


def load_tokenizer(args: argparse.Namespace):
    from prompts.tokenizers import LocalTokenizer, ServedTokenizer

    if args.endpoint:
        from clients.endpoint import Endpoint

        Endpoint(url=args.endpoint, model=args.model).check()
        return ServedTokenizer(args.endpoint, args.model)
    from serving.model import resolve_model_dir

    template = Path(args.chat_template).read_text() if args.chat_template else None
    return LocalTokenizer(resolve_model_dir(args.model_dir, log=lambda *a: print(*a, file=sys.stderr)), chat_template=template)


def manual_text(args: argparse.Namespace, tok) -> str:
    """The manual cut to --manual-tokens. For the lab's layouts it is cut like the graph cuts it:
    the static prefix ends just past a chunk boundary."""

    def count(text: str) -> int:
        message = {"role": "system", "content": static_prefix(text)} if args.layout else {"role": "user", "content": text}  # fmt: skip
        return len(tok.chat_ids([message], add_generation_prompt=False))

    # The built-in manual is far larger than any budget: a generous character cut first keeps the
    # token budget search fast.
    text = read_manual(args.manual) if args.manual else builtin_manual()[: args.manual_tokens * 8]
    return cut_to_budget(text, count, args.manual_tokens + count(""), chunk_size=args.chunk_size if args.layout else 0)


def renderings(args: argparse.Namespace, tok) -> tuple[list[list[dict]], list[str]]:
    """The two renderings to compare, checked against the context window."""
    questions = args.question or DEFAULT_QUESTIONS[:2]
    if args.layout:
        layout = get_layout(args.layout)
        manual = manual_text(args, tok)

        def build(q: str) -> list[dict]:
            return layout(static_prefix(manual), dynamic_part(q))
    else:
        template = read_template(args.template)
        manual = manual_text(args, tok) if uses(template, "{manual}") else ""

        def build(q: str) -> list[dict]:
            return render(template, q, manual)

    rendered = [build(q) for q in questions]
    room = tok.context_len - args.max_tokens
    base = len(tok.chat_ids(build("")))
    for i, (q, messages) in enumerate(zip(questions, rendered), 1):
        need = len(tok.chat_ids(messages))
        if tok.context_len and need > room:
            raise UserError(
                f"question {i} is {need - base} tokens but the context ({tok.context_len}) leaves only {room - base} "
                f"after the rest of the prompt ({base} tokens, manual included) and {args.max_tokens} for the answer; "
                f"shorten the question or lower --manual-tokens"
            )
    return rendered, questions


def print_report(r: PrefixReport, label: str, tokenizer: str, questions: list[str]) -> None:
    good = r.reusable_fraction >= 0.5
    console.print(f"[bold]{escape(label)}[/]: two renderings tokenized by {escape(tokenizer)}")
    for i, (q, n) in enumerate(zip(questions, (r.tokens_first, r.tokens_second)), 1):
        console.print(f"  rendering {i}: question {escape(repr(q))} -> {n:,} tokens")
    if r.cause == "identical":
        console.print("  the two renderings are identical")
    else:
        where = f" (message {r.message_index + 1}, role {r.role})" if r.message_index is not None and r.role else ""
        console.print(f"  shared prefix: {r.shared_tokens:,} tokens; first differing token #{r.shared_tokens:,}{where}")
        console.print(f'  common text before it: "{escape(r.context_before)}"')
        console.print(f'  rendering 1 goes on:   "{escape(r.first_continues)}"')
        console.print(f'  rendering 2 goes on:   "{escape(r.second_continues)}"')
    color = "green" if good else "red"
    console.print(
        f"  reusable on a cache hit: [{color}][bold]{r.reusable_tokens:,}[/] of {r.tokens_second:,} tokens "
        f"({r.reusable_fraction:.1%})[/], whole chunks of {r.chunk}"
    )
    console.print(f"  [{color}]{r.cause}[/]: {escape(r.hint)}")


def turn_check(tok, messages: list[dict]) -> TurnReport:
    """The conversation after one tool round against the same after two: the second round is what a
    tool loop's next turn appends."""
    one = [*messages, *tool_round(EXAMPLE_CALL, EXAMPLE_RESULT, "call_1")]
    return compare_turns(tok, one, tool_round(EXAMPLE_CALL, EXAMPLE_RESULT, "call_2"), turns=1)


def print_turns(t: TurnReport) -> None:
    console.print("[bold]turns[/]: rendering 1 with 1 and with 2 tool rounds (an assistant turn and a tool result each)")
    console.print(f"  1 round -> {t.tokens_before:,} tokens; 2 rounds -> {t.tokens_after:,} tokens")
    if t.prefix_holds:
        console.print(f"  [green]earlier turns kept[/]: {escape(t.hint)}")
        return
    console.print(f"  [red]earlier turns rewritten[/] at token #{t.diverges_at:,}")
    console.print(f'  common text before it: "{escape(t.context_before)}"')
    console.print(f'  1 round goes on:       "{escape(t.before_continues)}"')
    console.print(f'  2 rounds go on:        "{escape(t.after_continues)}"')
    console.print(f"  [red]{escape(t.hint)}[/]")


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    validate(args)
    if args.template:
        read_template(args.template)  # bad templates fail before the tokenizer loads
    tok = load_tokenizer(args)
    (first, second), questions = renderings(args, tok)
    report = compare_renderings(tok, first, second, args.chunk_size)
    turns = turn_check(tok, first) if args.turns else None
    if args.json:
        print(json.dumps({**asdict(report), "reusable_fraction": round(report.reusable_fraction, 4),
                          "questions": questions, "tokenizer": tok.label,
                          **({"turns": asdict(turns)} if turns else {})}, indent=2))  # fmt: skip
    else:
        print_report(report, args.template or f"layout {args.layout}", tok.label, questions)
        if turns:
            print_turns(turns)
    return 0

if __name__ == "__main__":
    sys.exit(main())
