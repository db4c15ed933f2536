"""Prefix analysis on real token streams: what two prompts share, what a prefix cache can reuse of
it, and why the rest differs.

The reuse rule was measured on this project's stack (vLLM CPU + LMCache MP connector, 256-token
chunks, 128-token vLLM blocks; prompts sent as token ids with ``max_tokens=1``):

| tokens shared with an earlier prompt / prompt length | cached tokens reported |
|---|---|
| 255 / 1100 | 0 |
| 256 / 1100, 511 / 1100 | 256 |
| 1099 / 1100 | 1024 |
| 1024 / 1024 (the same prompt again) | 1023 |
| 1023 / 1023 (the same prompt again) | 768 |

LMCache looks up whole chunks only, and vLLM always computes the prompt's last token itself.
"""

from collections.abc import Callable
from dataclasses import dataclass


def common_prefix_len(a: list[int], b: list[int]) -> int:
    """Number of leading tokens ``a`` and ``b`` have in common."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def longest_shared(ids: list[int], earlier: list[list[int]]) -> tuple[int, int | None]:
    """(tokens ``ids`` shares with the earlier prompt that shares most, that prompt's index)."""
    best, which = 0, None
    for i, other in enumerate(earlier):
        n = common_prefix_len(ids, other)
        if n > best or which is None:
            best, which = n, i
    return best, which


def cacheable_tokens(shared: int, prompt_len: int, chunk: int) -> int:
    """Tokens a chunked prefix cache can serve: the whole chunks of the shared prefix, never the
    whole prompt (the model computes at least the last token to produce logits)."""
    if prompt_len <= 0:
        return 0
    unit = max(chunk, 1)
    return max(0, min(shared // unit * unit, prompt_len - 1))


def prediction_note(
    predicted: int, observed: int | None, chunk: int, prompt_tokens_predicted: int, prompt_tokens_observed: int | None
) -> str:
    """Empty when the observation agrees with the prediction within one chunk; else a one-line
    flag with the likely cause."""
    if prompt_tokens_observed and prompt_tokens_predicted and prompt_tokens_observed != prompt_tokens_predicted:
        return (
            f"the server saw {prompt_tokens_observed} prompt tokens, the analysis {prompt_tokens_predicted}: "
            "the chat template adds dynamic text (a date, a time) or the client changed the messages"
        )
    if observed is None:
        return ""
    gap = observed - predicted
    if abs(gap) <= max(chunk, 1):
        return ""
    if gap < 0:
        return (
            f"{-gap} tokens fewer cached than predicted: the earlier calls' KV was evicted (LMCache L1 too small, "
            "no disk tier) or not yet stored, or the server tokenized a different prompt"
        )
    return (
        f"{gap} tokens more cached than this session shares: the KV came from outside the session "
        "(an earlier run on the same manual edition, the disk tier, another client) or from vLLM's own prefix cache"
    )


def one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def difference_snippet(decode: Callable[[list[int]], str], ids: list[int], at: int, before=10, after=6) -> str:
    """The text just before token ``at`` and, in brackets, from it on: ``…Question: ⟦What is…⟧``."""
    head = decode(ids[max(0, at - before) : at])
    tail = decode(ids[at : at + after])
    return one_line(f"…{head}⟦{tail}⟧…")


@dataclass
class PrefixReport:
    """How two renderings of one prompt compare, token by token."""

    tokens_first: int
    tokens_second: int
    shared_tokens: int  # leading tokens the two renderings have in common
    reusable_tokens: int  # of the second rendering, chunk-aligned: what a cache hit can serve
    chunk: int
    message_index: int | None  # first message whose role or text differs (None: identical messages)
    role: str | None
    context_before: str  # the common text just before the first differing token
    first_continues: str  # each rendering's text from the first differing token on
    second_continues: str
    cause: str  # identical | template | system | seam | early | late
    hint: str

    @property
    def reusable_fraction(self) -> float:
        return self.reusable_tokens / self.tokens_second if self.tokens_second else 0.0


def _first_differing_message(a: list[dict], b: list[dict]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x.get("role") != y.get("role") or x.get("content") != y.get("content"):
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _seam_tokens(decode: Callable[[list[int]], str], ids: list[int], other_text: str, at: int, limit: int = 64) -> int:
    """How many tokens of ``ids`` from ``at`` on still spell text the other rendering has too.

    Non-zero means a tokenization seam: the texts agree past the first differing token, but the
    tokenizer merged the last characters of the common text with what follows them."""
    n = 0
    while n < limit and at + n < len(ids) and other_text.startswith(decode(ids[: at + n + 1])):
        n += 1
    return n


def compare_renderings(tok, first: list[dict], second: list[dict], chunk: int) -> PrefixReport:
    """Compare two renderings of a prompt on ``tok``'s real token stream (chat template included)."""
    ids_a, ids_b = tok.chat_ids(first), tok.chat_ids(second)
    shared = common_prefix_len(ids_a, ids_b)
    reusable = cacheable_tokens(shared, len(ids_b), chunk)
    k = _first_differing_message(first, second)
    role = (first[k].get("role") if k is not None and k < len(first) else None) or None
    decode = tok.decode
    text_a, text_b = decode(ids_a), decode(ids_b)
    common = decode(ids_a[:shared])
    report = PrefixReport(
        tokens_first=len(ids_a), tokens_second=len(ids_b), shared_tokens=shared, reusable_tokens=reusable, chunk=chunk,
        message_index=k, role=role, context_before=one_line(common[-80:]),
        first_continues=one_line(text_a[len(common) : len(common) + 60]),
        second_continues=one_line(text_b[len(common) : len(common) + 60]),
        cause="", hint="",
    )  # fmt: skip
    lost = len(ids_b) - reusable
    if ids_a == ids_b:
        report.cause, report.hint = "identical", "the renderings are identical: all but the last token can be reused"
    elif tok.chat_ids(first) != ids_a:
        report.cause = "template"
        report.hint = (
            "the chat template adds dynamic text (a date or time): the same messages give other tokens on every "
            "rendering; pin the template or pass that value as fixed text"
        )
    elif cacheable_tokens(
        shared + (seam := max(_seam_tokens(decode, ids_b, text_a, shared), _seam_tokens(decode, ids_a, text_b, shared))),
        len(ids_b),
        chunk,
    ) > reusable:
        report.cause = "seam"
        report.hint = (
            f"tokenization seam: the next {seam} token(s) still spell common text, but the tokenizer merged "
            "them with what follows, which costs a chunk; end the static part with a newline or fixed separator"
        )
    elif role == "system" and k is not None and k < len(first) - 1:
        report.cause = "system"
        report.hint = (
            f"the system message changes between renderings at token {shared}: {lost} of {len(ids_b)} tokens are "
            "recomputed on every call; move timestamps, ids, names and questions after the static part"
        )
    elif report.reusable_fraction < 0.5:
        report.cause = "early"
        report.hint = (
            f"the prompts differ at token {shared} of {len(ids_b)}: dynamic text sits before most of the prompt; "
            "put the static part (system text, documents) first and the question last"
        )
    else:
        report.cause = "late"
        report.hint = f"the prompts differ only after token {shared}: the static part is reused, {lost} tokens computed per call"
    return report


@dataclass
class TurnReport:
    """Whether a conversation's prompt of N turns is a prefix of its prompt of N+1 turns, both rendered
    as the server renders a chat call (chat template, generation prompt, tokenizer)."""

    turns: int  # N
    tokens_before: int  # the N-turn prompt
    tokens_after: int  # the N+1-turn prompt
    prefix_holds: bool
    diverges_at: int | None  # the first token of the N-turn prompt the N+1-turn one renders differently
    context_before: str  # the common text just before it
    before_continues: str  # each prompt's text from there on
    after_continues: str
    hint: str


def compare_turns(tok, before: list[dict], added: list[dict], turns: int) -> TurnReport:
    """Render ``before`` (N turns) and ``before + added`` (N+1 turns) and say whether the first is a prefix
    of the second, and where not, at which token and what the text is there."""
    ids_a, ids_b = tok.chat_ids(before), tok.chat_ids([*before, *added])
    shared = common_prefix_len(ids_a, ids_b)
    holds = shared == len(ids_a)
    common = tok.decode(ids_a[:shared])
    text_a, text_b = tok.decode(ids_a), tok.decode(ids_b)
    if holds:
        hint = (f"the {turns}-turn prompt is a prefix of the {turns + 1}-turn one: each turn adds tokens after the last, "
                "so a cache can serve the whole history")  # fmt: skip
    else:
        hint = (f"the chat template rewrites earlier turns: adding a turn changes the prompt from token {shared} of "
                f"{len(ids_a)} on, so everything after it is recomputed every turn; use a template that renders each "
                "message the same whatever follows it (no 'last turn' markers, no dropping earlier assistant content)")  # fmt: skip
    return TurnReport(
        turns=turns, tokens_before=len(ids_a), tokens_after=len(ids_b), prefix_holds=holds,
        diverges_at=None if holds else shared, context_before=one_line(common[-80:]),
        before_continues=one_line(text_a[len(common) : len(common) + 60]),
        after_continues=one_line(text_b[len(common) : len(common) + 60]), hint=hint,
    )  # fmt: skip
