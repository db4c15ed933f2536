"""Run-time configuration of the graphs. LangGraph Studio shows each field's description as help."""

from dataclasses import dataclass, field, replace

from clients.endpoint import Endpoint
from serving.settings import DEFAULT_MODEL_NAME, StackSettings


@dataclass(frozen=True, kw_only=True)
class Context:
    """How a graph reaches its model and builds its prompt. ``lab.settings.resolve(Context, ...)``
    fills each field from an argument, ``LMLAB_<FIELD>``, the profile or its default; constructing
    one directly reads no environment.

    The endpoint's five settings (``endpoint``, ``model``, ``api_key``, ``lmcache_metrics_url``,
    ``request_timeout_s``) stay flat fields, and ``server`` is the ``Endpoint`` they make. Flat,
    because that is how every user names them: LangGraph Studio builds the Context from its form as
    ``Context(**inputs)`` after keeping only the schema's top-level properties, so a nested field would
    drop ``model`` and the rest from its form; flat, the ``LMLAB_*`` names, the flags, Studio's form,
    summary.json's ``config.context`` and docs/configuration.md stay as they are, with no change to
    ``lab.settings``. Code calls the endpoint through ``server``, and points a Context elsewhere with
    ``at`` / ``on`` (from the stack's settings), never field by field."""

    endpoint: str = field(
        default=StackSettings().endpoint,
        metadata={"description": "OpenAI-compatible base URL of the vLLM server (with /v1)."},
    )
    model: str = field(
        default=DEFAULT_MODEL_NAME,
        metadata={"description": "Model name as served by the endpoint."},
    )
    api_key: str = field(
        default="EMPTY",
        metadata={"description": "API key for the endpoint (vLLM --api-key); EMPTY when the server has none."},
    )
    lmcache_metrics_url: str = field(
        default="",
        metadata={"description": f"HTTP root of the LMCache server behind the endpoint (e.g. {next(iter(StackSettings().lmcache_urls()))}): "
                                 "its /metrics tell which tier (L1 memory, L2 disk/Redis) served a hit. Empty: skip."},
    )
    metrics_per_call: bool = field(
        default=True,
        metadata={"description": "Split each call's hits by source from /metrics deltas around it. Off under "
                                 "concurrent load, where deltas mix calls: sources are then left empty, never guessed."},
    )
    layout: str = field(
        default="manual_first",
        metadata={"description": "Prompt layout: where the static manual and the dynamic question sit."},
    )
    agent_layout: str = field(
        default="shared_prefix",
        metadata={"description": "Agent graph only: shared_prefix (every node's prompt opens with the same system text + "
                                 "manual; its role comes after) or per_node_system (each node's role opens its system "
                                 "prompt, before the manual: each node pays its own cold start)."},
    )
    conversation: str = field(
        default="independent",
        metadata={"description": "Agent graph only: independent questions, or follow-ups whose earlier turns are "
                                 "appended after the manual (append), or preceded by a running summary rewritten "
                                 "each turn (rewrite: the common mistake, nothing after the manual is reused)."},
    )
    answer_retries: int = field(
        default=1,
        metadata={"description": "Agent graph only: how many times a rejected answer goes back from check to answer."},
    )
    check_verdict: str = field(
        default="model",
        metadata={"description": "Agent graph only: model (the check node's reply decides) or reject_once (the first "
                                 "check of each question rejects, to show the retry edge whatever the model says)."},
    )
    tool_turns: int = field(
        default=4,
        metadata={"description": "Tool-loop graph only: model turns per question; each but the last is followed by a "
                                 "find_section result appended to the conversation."},
    )
    replies: str = field(
        default="json_schema",
        metadata={"description": "Agent graph only: how the planner and the checker reply. json_schema: the endpoint holds "
                                 "each reply to its JSON schema (structured outputs); free_text: a LOOK FOR: line and an "
                                 "ACCEPT/REJECT word, read leniently, for endpoints that refuse a schema (a refused call "
                                 "is asked again in free text, and its fallback column says so)."},
    )
    manual_path: str = field(
        default="",
        metadata={"description": "Your own .txt/.md manual. Empty: Python's documentation topics, cut to manual_tokens."},
    )
    manual_tokens: int = field(
        default=4000,
        metadata={"description": "Token budget of the manual (gpu profile: 32000). Your own manual is cut to it only with truncate_manual."},
    )
    truncate_manual: bool = field(
        default=False,
        metadata={"description": "Cut your own manual to manual_tokens instead of refusing one that is too long."},
    )
    chunk_size: int = field(
        default=256,
        metadata={"description": "LMCache chunk size. The manual cut ends the static prefix just past a multiple of it (0: no alignment)."},
    )
    max_tokens: int = field(default=32, metadata={"description": "Answer length limit, in tokens."})
    temperature: float = field(default=0.0, metadata={"description": "Sampling temperature; 0 gives repeatable answers."})
    logprobs: bool = field(
        default=False,
        metadata={"description": "Record each answer token's logprob and runner-up (for answer-equivalence checks)."},
    )
    request_timeout_s: float = field(default=Endpoint.timeout_s, metadata={"description": "Timeout of one chat call, seconds."})

    @property
    def server(self) -> Endpoint:
        """The endpoint the settings above name."""
        return Endpoint(url=self.endpoint, model=self.model, api_key=self.api_key, lmcache_metrics_url=self.lmcache_metrics_url,
                        timeout_s=self.request_timeout_s)  # fmt: skip

    def at(self, endpoint: Endpoint) -> "Context":
        """This Context, calling ``endpoint``."""
        return replace(self, endpoint=endpoint.url, model=endpoint.model, api_key=endpoint.api_key,
                       lmcache_metrics_url=endpoint.lmcache_metrics_url, request_timeout_s=endpoint.timeout_s)  # fmt: skip

    def on(self, settings: StackSettings, instance: int | None = None) -> "Context":
        """This Context, calling instance ``instance`` of the stack ``settings`` describe (None: the
        stack's one endpoint) as it calls its own endpoint now (model, key, timeout)."""
        return self.at(settings.endpoint_of(instance, like=self.server))
