"""Prompts of the agent graph: each node's role text and task, and the two ways to lay them out.

Every LLM node of the agent graph (plan, answer, check) reads the same manual. Where the node's
role text sits decides whether the nodes share one cached prefix:

- ``shared_prefix``: the static prefix (system text + manual, the same bytes the qa graph sends)
  comes first for every node; the role, the node's inputs and the question come after the manual.
  Only the very first call on a manual edition is cold.
- ``per_node_system``: the role text opens the system prompt, before the manual, as most agent
  templates write it ("You are a planner..."). Each node's prompt differs from the first tokens
  on, so each node pays its own cold prefill on each manual and hits only within itself.

Follow-up turns (the ``conversation`` modes) sit between the manual and the node's message:

- ``independent``: no history; each question stands alone;
- ``append``: the earlier turns (question, final answer), appended in order: everything before
  the newest turn is the same as last turn, so the cached part grows turn by turn;
- ``rewrite``: the common mistake: a running summary rewritten each turn, placed before the
  history, so nothing after the manual is ever reused.
"""

from collections.abc import Callable

from lab.errors import UserError

# Role texts: module constants, formatted inside the nodes.
PLAN_ROLE = "Role: planner. Do not answer the question yet. Say what to look for in the manual to answer it."
ANSWER_ROLE = "Role: answerer. Answer the question in one or two sentences, using only the manual and the plan."
CHECK_ROLE = "Role: checker. Judge whether the answer is correct and supported by the manual."
# How the planner and the checker are asked to reply, per ``Context.replies``. The text ends the
# node's task (after the manual in every layout), so the static prefix is the same bytes whatever
# the format; under json_schema the endpoint also holds the reply to the schema
# (prompts.agent_output.response_format), and the text names the schema's fields so the model's
# first tokens already follow it.
REPLY_FORMATS = {
    "json_schema": {
        "plan": 'Reply with JSON only: {"look_for": [one to three search terms, a few words each]}.',
        "check": 'Reply with JSON only: {"verdict": "ACCEPT" or "REJECT", "reason": a few words}.',
    },
    "free_text": {
        "plan": "Write one line that starts with 'LOOK FOR:' followed by up to three search terms separated by semicolons.",
        "check": "Start your reply with one word, ACCEPT or REJECT, then give one short reason.",
    },
}
# The system text of ``per_node_system``: the role first, as agent templates write it.
PER_NODE_SYSTEM = "{role}\n\n{prefix}"
# The node's own message of ``shared_prefix``: the role after the manual, then the task.
SHARED_PREFIX_USER = "{role}\n\n{task}"

# Each node's task: its inputs and the question (dynamic text, always after the manual).
PLAN_TASK = "Question: {question}"
ANSWER_TASK = "Plan, what to look for: {plan}\n\nQuestion: {question}"
# On a retry the checker's reason comes with it, so the second answer is not the first one again.
RETRY_NOTE = "\n\nA checker rejected an earlier answer ({answer}) because: {reason}\nGive a better answer."
CHECK_TASK = "Question: {question}\n\nAnswer to judge: {answer}"

# ``rewrite`` mode: the running summary that opens the history and changes every turn.
RUNNING_SUMMARY = "Summary of the conversation so far ({turns} earlier turns): the user asked {questions}."

NODE_ROLES = {"plan": PLAN_ROLE, "answer": ANSWER_ROLE, "check": CHECK_ROLE}
NODES = tuple(NODE_ROLES)  # the agent's LLM nodes, in call order


def plan_task(question: str) -> str:
    return PLAN_TASK.format(question=question)


def answer_task(question: str, plan: str, rejected: tuple[str, str] | None = None) -> str:
    """``rejected``: (the earlier answer, the checker's reason), on a retry."""
    task = ANSWER_TASK.format(plan=plan, question=question)
    if rejected is not None:
        task += RETRY_NOTE.format(answer=rejected[0], reason=rejected[1])
    return task


def check_task(question: str, answer: str) -> str:
    return CHECK_TASK.format(question=question, answer=answer)


def shared_prefix(prefix: str, role: str, task: str, history: list[dict]) -> list[dict]:
    """Cache-friendly: the static prefix first and identical for every node; role and task last."""
    return [{"role": "system", "content": prefix}, *history,
            {"role": "user", "content": SHARED_PREFIX_USER.format(role=role, task=task)}]  # fmt: skip


def per_node_system(prefix: str, role: str, task: str, history: list[dict]) -> list[dict]:
    """What most agent templates do: the node's role opens its system prompt, before the manual."""
    return [{"role": "system", "content": PER_NODE_SYSTEM.format(role=role, prefix=prefix)}, *history,
            {"role": "user", "content": task}]  # fmt: skip


AgentLayout = Callable[[str, str, str, list[dict]], list[dict]]
AGENT_LAYOUTS: dict[str, AgentLayout] = {"shared_prefix": shared_prefix, "per_node_system": per_node_system}


def get_agent_layout(name: str) -> AgentLayout:
    try:
        return AGENT_LAYOUTS[name]
    except KeyError:
        raise UserError(f"unknown agent layout {name!r}; valid agent layouts: {', '.join(AGENT_LAYOUTS)}") from None


def _turns(turns: list[tuple[str, str]]) -> list[dict]:
    return [m for q, a in turns for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]


def independent(turns: list[tuple[str, str]]) -> list[dict]:
    """No history: each question stands alone."""
    return []


def append(turns: list[tuple[str, str]]) -> list[dict]:
    """The earlier turns in order: each turn only adds messages after the last turn's."""
    return _turns(turns)


def rewrite(turns: list[tuple[str, str]]) -> list[dict]:
    """The common mistake: a running summary, rewritten every turn, before the history."""
    if not turns:
        return []
    asked = "; ".join(repr(q) for q, _ in turns)
    return [{"role": "user", "content": RUNNING_SUMMARY.format(turns=len(turns), questions=asked)},
            {"role": "assistant", "content": "Noted."}, *_turns(turns)]  # fmt: skip


CONVERSATIONS: dict[str, Callable[[list[tuple[str, str]]], list[dict]]] = {
    "independent": independent,
    "append": append,
    "rewrite": rewrite,
}


def get_conversation(name: str) -> Callable[[list[tuple[str, str]]], list[dict]]:
    try:
        return CONVERSATIONS[name]
    except KeyError:
        raise UserError(f"unknown conversation mode {name!r}; valid modes: {', '.join(CONVERSATIONS)}") from None


def with_reply_format(node: str, task: str, replies: str) -> str:
    """``task`` followed by how ``node`` is asked to reply (the answer node replies in prose)."""
    reply_format = REPLY_FORMATS[replies].get(node)
    return f"{task}\n\n{reply_format}" if reply_format else task


def node_messages(layout: str, conversation: str, prefix: str, node: str, task: str,
                  turns: list[tuple[str, str]], replies: str = "json_schema") -> list[dict]:  # fmt: skip
    """The chat messages of one agent node's call: ``prefix`` is the static prefix (system text +
    manual), ``turns`` the earlier (question, answer) turns of the conversation, ``replies`` the
    reply format asked of the planner and the checker."""
    task = with_reply_format(node, task, replies)
    return get_agent_layout(layout)(prefix, NODE_ROLES[node], task, get_conversation(conversation)(turns))


CHECK_VERDICTS = ("model", "reject_once")


def check_agent_settings(layout: str, conversation: str, check_verdict: str, answer_retries: int,
                         replies: str = "json_schema") -> None:  # fmt: skip
    """Refuse unknown agent settings (``Context`` fields) with the valid ones, before anything starts."""
    if replies not in REPLY_FORMATS:
        raise UserError(f"unknown replies {replies!r}; valid: {', '.join(REPLY_FORMATS)}")
    get_agent_layout(layout)
    get_conversation(conversation)
    if check_verdict not in CHECK_VERDICTS:
        raise UserError(f"unknown check_verdict {check_verdict!r}; valid: {', '.join(CHECK_VERDICTS)}")
    if answer_retries < 0:
        raise UserError(f"answer_retries must be 0 or more, got {answer_retries}")
