"""Reading the agent nodes' replies defensively.

A small model often ignores the asked-for format. A reply that does not parse never stops the
graph: the node falls back to a safe reading and says so (``fallback``, recorded on the call's
row and its trace), so a run shows how often the model kept to the format.
"""

import re
from dataclasses import dataclass

MAX_TERMS = 3
MAX_TERM_CHARS = 80
# The marker the planner is asked to write (prompts.agent.PLAN_ROLE); markdown around it is tolerated.
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


def parse_plan(reply: str, question: str) -> Plan:
    """The planner's search terms, from its ``LOOK FOR: a; b; c`` line. No such line, or one with no
    terms: the question's own content words, with the reason in ``fallback``."""
    if not reply.strip():
        return Plan(question_terms(question), "plan: empty reply; looked for the question's words")
    for line in reply.splitlines():
        match = _LOOK_FOR.search(line.replace("*", "").replace("`", ""))
        if match:
            parts = [p.strip(" \t.\"'[]()-") for p in re.split(r"[;,]", match.group(1))]
            terms = [p[:MAX_TERM_CHARS] for p in parts if p][:MAX_TERMS]
            if terms:
                return Plan(terms)
            return Plan(question_terms(question), "plan: LOOK FOR: line without terms; looked for the question's words")
    return Plan(question_terms(question), "plan: no LOOK FOR: line; looked for the question's words")


def parse_verdict(reply: str) -> Verdict:
    """ACCEPT or REJECT, whichever the reply says first, the rest as the reason. Neither word:
    accepted (a checker that cannot say no must not loop the graph), with the reason in ``fallback``."""
    match = _VERDICT.search(reply)
    if match is None:
        return Verdict(True, reply.strip(), "check: neither ACCEPT nor REJECT; accepted")
    reason = reply[match.end():].strip(" \t\n.:,-") or reply.strip()
    return Verdict(match.group(1).lower().startswith("accept"), reason)
