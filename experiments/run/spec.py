"""One run spec: what a run asks for, resolved once into the stack settings and the graph's Context.

``RunSpec.build(...)`` takes what a user gives (the command line's flags, the notebook's or a test's
keywords), checks it, and resolves ``StackSettings`` and ``Context`` through ``lab.settings`` (an
argument beats ``LMLAB_*``, which beats the scenario's stack overrides, the profile and the
defaults), and the scenario's own parameters (``lab.settings.resolve_params``), which run.json
keeps so that ``resume`` plans with the very same ones. ``connect`` is the one step that hands a
started stack's endpoint (``StackSettings.endpoint_of``: its URL, model, LMCache URL and API key)
and chunk size to the Context.
"""

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from experiments.run.questions import load_questions
from experiments.run.overrides import pinned_notes
from experiments.scenarios import SCENARIOS, scenario_class
from graphs.context import Context
from lab.errors import UserError
from lab.settings import ARGUMENT, active_profile, resolve_params, resolve_with_sources, restore
from observability.datasets import dataset_questions
from observability.settings import from_env as langfuse_settings
from prompts.agent import check_agent_settings
from prompts.layouts import get_layout
from prompts.manual import read_manual
from prompts.questions import BUILT_IN, Question
from serving.settings import StackSettings

RUN_JSON = "run.json"


@dataclass(frozen=True)
class RunArgs:
    """What a user asks of a run; every field is a ``run_graph`` flag of the same name."""

    scenario: str = "cold_hit"
    out: Path | None = None
    manual: str | None = None
    manual_tokens: int | None = None
    questions: int = 5
    # The user's own questions: a file (text, CSV, JSONL) or a LangFuse dataset; neither: the built-in ones.
    questions_file: str | None = None
    dataset: str | None = None
    repeats: int = 3
    max_tokens: int | None = None
    endpoint: str | None = None
    model: str | None = None
    expect_reduction: float | None = None
    concurrency: int | None = None
    duration: int | None = None
    keep_stack: bool = False
    resume: Path | None = None

    def check(self) -> None:
        """Refuse bad arguments before any folder or server exists."""
        cls = scenario_class(self.scenario)
        if self.concurrency is not None and cls.default_concurrency == 1:
            raise UserError(f"--concurrency applies to the {' and '.join(s.name for s in SCENARIOS.values() if s.default_concurrency > 1)} scenarios only")
        if self.duration is not None and not cls.timed:
            raise UserError("--duration applies to the soak scenario only")
        for flag in ("questions", "repeats", "manual_tokens", "max_tokens", "concurrency", "duration"):
            value = getattr(self, flag)
            if value is not None and value < 1:
                raise UserError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
        if self.questions < cls.min_questions:
            raise UserError(f"--questions must be at least {cls.min_questions} for {self.scenario}: one cold call and at least one hit")
        if self.expect_reduction is not None and not 0 <= self.expect_reduction < 1:
            raise UserError(f"--expect-reduction is a fraction between 0 and 1, got {self.expect_reduction}")
        if self.questions_file and self.dataset:
            raise UserError("--questions-file and --dataset both give the questions; pass one of them")
        if self.manual:
            read_manual(self.manual)  # missing, empty, binary or not UTF-8: said now, not after the stack starts
        if self.endpoint and cls.needs_launcher:
            raise UserError(f"{self.scenario} restarts and resets the servers itself, so it needs the local stack; drop --endpoint")

    def saved(self) -> dict:
        """What --resume needs to plan the very same run again (run.json's ``args``)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k not in ("resume", "out")}


@dataclass(frozen=True)
class RunSpec:
    """A run, resolved: its arguments, the local stack's settings (None with --endpoint), the
    graph's Context and the scenario's own parameters (None when it has none), with the source of
    every setting, and the questions the run asks (the built-in ones, or the user's)."""

    args: RunArgs
    context: Context
    stack: StackSettings | None
    context_sources: dict[str, str] = field(default_factory=dict)
    stack_sources: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None  # set when resuming: the run being finished
    params: object | None = None
    params_sources: dict[str, str] = field(default_factory=dict)
    questions: tuple[Question, ...] = BUILT_IN

    @classmethod
    def build(cls, args: RunArgs | None = None, *, env: dict | None = None, run_id: str | None = None,
              saved_params: tuple[object, dict] | None = None, saved_questions: tuple[Question, ...] | None = None,
              **given) -> "RunSpec":  # fmt: skip
        """``build(scenario="cold_hit", questions=3, ...)`` or ``build(RunArgs(...))``; ``saved_params``:
        the scenario's parameters and their sources as a run saved them (--resume); ``saved_questions``:
        the questions it asked (so a resumed run asks the same, whatever the file or dataset holds now)."""
        args = args or RunArgs(**given)
        args.check()
        scenario = scenario_class(args.scenario)
        # A budget on your own manual means: cut it.
        given_ctx = {"endpoint": args.endpoint, "model": args.model, "manual_path": args.manual, "manual_tokens": args.manual_tokens,
                     "truncate_manual": True if args.manual_tokens else None, "max_tokens": args.max_tokens}  # fmt: skip
        context, context_sources = resolve_with_sources(Context, given_ctx, env=env)
        get_layout(context.layout)  # an unknown LMLAB_LAYOUT fails here, listing the valid ones
        check_agent_settings(context.agent_layout, context.conversation, context.check_verdict, context.answer_retries,
                             context.replies)
        if (langfuse := langfuse_settings(env)).error:
            raise UserError(langfuse.error)
        questions = saved_questions or (load_questions(args.questions_file) if args.questions_file else
                                        dataset_questions(args.dataset, langfuse.settings) if args.dataset else BUILT_IN)  # fmt: skip
        # A bad value is refused here, before any server starts.
        params, params_sources = saved_params or (resolve_params(scenario.params_class, env=env) if scenario.params_class else (None, {}))
        stack, stack_sources = None, {}
        if not args.endpoint:
            overrides = scenario.stack_overrides(params, active_profile(env=env))
            stack, stack_sources = resolve_with_sources(StackSettings, env=env, overrides=overrides,
                                                        overrides_source=f"scenario {scenario.name}")  # fmt: skip
        return cls(args, context, stack, context_sources, stack_sources, run_id, params, params_sources, questions)

    @classmethod
    def resume(cls, folder: Path, *, keep_stack: bool = False, env: dict | None = None) -> "RunSpec":
        """The spec of the run in ``folder``, to finish it (how to leave the servers is this call's choice),
        with the scenario parameters the run saved, whatever the environment says now."""
        try:
            data = json.loads((folder / RUN_JSON).read_text())
            saved = {f.name: data["args"][f.name] for f in fields(RunArgs) if f.name in data["args"]}
            run_id = data["run_id"]
            params_class = scenario_class(saved.get("scenario", RunArgs.scenario)).params_class
            saved_params = None  # an older run.json without them: resolved again
            if params_class and data.get("params") is not None:
                saved_params = (restore(params_class, data["params"]), data.get("params_sources", {}))
            saved_questions = tuple(Question(**q) for q in data["questions"]) if data.get("questions") else None
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{folder} is not a run folder this tool can resume (no readable {RUN_JSON})") from None
        args = RunArgs(**{**saved, "out": folder, "resume": folder, "keep_stack": keep_stack})
        return cls.build(args, env=env, run_id=run_id, saved_params=saved_params, saved_questions=saved_questions)

    def saved(self) -> dict:
        """What run.json keeps (besides the run id) for --resume: the arguments, the scenario's parameters
        and the questions."""
        params = asdict(self.params) if self.params is not None else None
        return {"args": self.args.saved(), "params": params, "params_sources": self.params_sources,
                "questions": [asdict(q) for q in self.questions]}  # fmt: skip

    def pinned(self) -> list[str]:
        """The settings the user gave that the scenario replaces, one line each (``experiments.run.overrides``)."""
        return pinned_notes(scenario_class(self.args.scenario), self.context, self.context_sources)

    def connect(self, settings: StackSettings) -> Context:
        """The Context for a started stack: its endpoint (``StackSettings.endpoint_of``) with its
        LMCache server and API key, and its chunk size; the model the run asked for (argument or
        ``LMLAB_MODEL``), else the one the stack serves."""
        given = self.context_sources
        ctx = self.context
        asked = given.get("model") not in (None, "default")
        like = ctx.server if asked else replace(ctx.server, model=settings.served_model_name)
        chunk_size = ctx.chunk_size if given.get("chunk_size") == ARGUMENT else settings.chunk_size
        return replace(ctx, chunk_size=chunk_size).at(settings.endpoint_of(like=like))

    def summary_config(self, context: Context) -> dict:
        """The configuration a run folder keeps (never a key)."""
        return {
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.args).items()},
            "context": {k: v for k, v in asdict(context).items() if k != "api_key"},
            "stack": self.stack.as_dict() if self.stack else {"endpoint": context.endpoint},
            "params": asdict(self.params) if self.params is not None else {},
            "sources": {"context": self.context_sources, "stack": self.stack_sources, "params": self.params_sources},
            "pinned": self.pinned(),
        }
