"""The agent nodes' replies: the JSON schemas the planner and the checker are held to, and reading
their replies.

With ``replies=json_schema`` (the default) the endpoint constrains the reply to the node's schema
(vLLM's structured outputs: the OpenAI ``response_format`` of type ``json_schema``), so a reply is
valid JSON of that shape unless it was cut off at its token cap. ``free_text`` is the reading for
endpoints that refuse a schema: the reply is searched for a ``LOOK FOR:`` line or a verdict word.

A reply that does not parse never stops the graph: the node falls back to a safe reading and says
so (``fallback``, recorded on the call's row and its trace), so a run shows how often that happened.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_TERMS = 3
MAX_TERM_CHARS = 40
MAX_REASON_CHARS = 120
# The token cap of a schema-held reply: its longest JSON at one token per character (digits), with
# some whitespace, which the grammar allows anywhere. The answer node and free-text replies keep
# Context.max_tokens.
REPLY_MAX_TOKENS = 160


class PlanReply(BaseModel):
    """The planner's reply: what to look for in the manual."""

    model_config = ConfigDict(extra="forbid")  # additionalProperties: false, as strict schemas require
    look_for: list[Annotated[str, Field(max_length=MAX_TERM_CHARS)]] = Field(
        min_length=1, max_length=MAX_TERMS, description="Search terms, most useful first.")


class VerdictReply(BaseModel):
    """The checker's reply: its verdict first, then why."""

    model_config = ConfigDict(extra="forbid")
    verdict: Literal["ACCEPT", "REJECT"]
    reason: str = Field(max_length=MAX_REASON_CHARS)


SCHEMAS: dict[str, type[BaseModel]] = {"plan": PlanReply, "check": VerdictReply}


def response_format(node: str) -> dict:
    """The OpenAI ``response_format`` asking for ``node``'s schema (``strict``: nothing else allowed)."""
    model = SCHEMAS[node]
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema(), "strict": True}}


# The free-text reading. The marker the planner is asked to write (prompts.agent.REPLY_FORMATS);
# markdown around it is tolerated.
_LOOK_FOR = re.compile(r"look\s*for\s*[:\-]\s*(.*)", re.IGNORECASE)
_VERDICT = re.compile(r"\b(accept(?:ed)?|reject(?:ed)?)\b", re.IGNORECASE)
_STOPWORDS = {
    "a", "an", "the", "is", "are", "was", "what", "which", "how", "does", "do", "did", "of", "in", "on", "to", "and",
    "or", "for", "with", "by", "you", "it", "its", "be", "between", "difference", "when", "why", "who", "from", "work",
}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What the answer node is told to look for; ``fallback`` says why it is not the model's plan ("" when it is)."""

    terms: list[str]
    fallback: str = ""

    def text(self) -> str:
        return "; ".join(self.terms)


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    fallback: str = ""


def question_terms(question: str) -> list[str]:
    """The question's content words, as a plan of last resort."""
    words = [w.strip("?.,:;!'\"()") for w in question.split()]
    terms = [w for w in words if w and w.lower() not in _STOPWORDS]
    return terms[:MAX_TERMS] or [question.strip()]


def _terms(parts: list[str]) -> list[str]:
    cleaned = (p.strip(" \t.\"'[]()-") for p in parts)
    return [p[:MAX_TERM_CHARS] for p in cleaned if p][:MAX_TERMS]


def _not_json(err: ValidationError) -> str:
    first = err.errors()[0]
    return f"{first['type']} at {'.'.join(map(str, first['loc'])) or 'top level'}"


def read_plan(reply: str, question: str, replies: str = "json_schema") -> Plan:
    """The planner's search terms from its reply in ``replies`` format; the question's own content
    words, with the reason in ``fallback``, when it does not parse or names no term."""
    if replies == "free_text":
        return parse_plan(reply, question)
    try:
        terms = _terms(PlanReply.model_validate_json(reply).look_for)
    except ValidationError as err:  # cut off at the token cap, or an endpoint that ignored the schema
        return Plan(question_terms(question), f"plan: reply is not a PlanReply ({_not_json(err)}); looked for the question's words")
    if not terms:
        return Plan(question_terms(question), "plan: look_for without terms; looked for the question's words")
    return Plan(terms)


def read_verdict(reply: str, replies: str = "json_schema") -> Verdict:
    """The checker's verdict from its reply in ``replies`` format. One that does not parse accepts
    (a checker that cannot say no must not loop the graph), with the reason in ``fallback``."""
    if replies == "free_text":
        return parse_verdict(reply)
    try:
        parsed = VerdictReply.model_validate_json(reply)
    except ValidationError as err:
        return Verdict(True, reply.strip(), f"check: reply is not a VerdictReply ({_not_json(err)}); accepted")
    return Verdict(parsed.verdict == "ACCEPT", parsed.reason.strip())


def parse_plan(reply: str, question: str) -> Plan:
    """Free text: the planner's search terms, from its ``LOOK FOR: a; b; c`` line. No such line, or
    one with no terms: the question's own content words, with the reason in ``fallback``."""
    if not reply.strip():
        return Plan(question_terms(question), "plan: empty reply; looked for the question's words")
    for line in reply.splitlines():
        match = _LOOK_FOR.search(line.replace("*", "").replace("`", ""))
        if match:
            terms = _terms(re.split(r"[;,]", match.group(1)))
            if terms:
                return Plan(terms)
            return Plan(question_terms(question), "plan: LOOK FOR: line without terms; looked for the question's words")
    return Plan(question_terms(question), "plan: no LOOK FOR: line; looked for the question's words")


def parse_verdict(reply: str) -> Verdict:
    """Free text: ACCEPT or REJECT, whichever the reply says first, the rest as the reason. Neither
    word: accepted (a checker that cannot say no must not loop the graph), with the reason in ``fallback``."""
    match = _VERDICT.search(reply)
    if match is None:
        return Verdict(True, reply.strip(), "check: neither ACCEPT nor REJECT; accepted")
    reason = reply[match.end():].strip(" \t\n.:,-") or reply.strip()
    return Verdict(match.group(1).lower().startswith("accept"), reason)
