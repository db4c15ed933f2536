"""A traced run also recorded as LangFuse experiments, so LangFuse can put runs side by side.

LangFuse compares runs through datasets and experiment (dataset) runs. Here:

- one **dataset** per scenario and manual (``lmcache-lab/<scenario>/<manual>-<tokens>t-<fingerprint>``),
  created once and reused; its **items** are the questions, with the manual's name, size in tokens
  and fingerprint as metadata; an item's id is derived from the dataset and the question, so the
  same question is the same item in every run;
- one **experiment run** per variant, named ``<run id> <variant>``, with the run's metadata
  (versions, git commit, profile, model, stack settings) and its baseline marked; each call's trace
  is linked to its item, at the observation of the node that recorded the call;
- **item scores** on that observation: ``ttft_ms``, ``hit_rate`` and, for a question with an expected
  answer (the item's expected output), ``correct`` (put there by the tracing handler),
  ``cached_tokens``, ``lmcache_hit_tokens`` and the categorical ``cache_source``; their **score
  configs** are created once;
- **run scores**: ``ttft_median_ms``, ``ttft_p90_ms``, ``hit_rate``, ``correct`` (the share of correct
  answers, where questions have expected ones) and ``ttft_reduction`` (against the scenario's baseline variant).

The spans of each recorded call also carry the ``langfuse.experiment.*`` attributes a LangFuse v4
server reads. Everything here is the SDK's public API (``Langfuse.api``, ``create_score``,
``get_dataset``...). The REST work runs inside ``Tracing.flush``, under its time bound: a LangFuse
that does not answer costs the run nothing but the same warning line.
"""

import hashlib
import json
import logging
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments.analysis.variant_rows import baseline_among, compared_rows, variant_figures
from observability.calls import call_labels

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("5f1c1d2e-8a77-4c1e-9a55-1ab0c0ffee16")  # ids of this lab's items and experiments
DATASET_PREFIX = "lmcache-lab"
CACHE_SOURCES = ["none", "vllm", "lmcache memory", "lmcache disk", "redis"]
# Score configs: (name, data type, description, min, max, categories).
SCORE_CONFIGS = [
    ("ttft_ms", "NUMERIC", "Time to first token of the call, ms (client-side, streamed)", 0, None, None),
    ("hit_rate", "NUMERIC", "Share of the prompt's tokens served from a cache (usage.cached_tokens / prompt tokens)", 0, 1, None),
    ("correct", "NUMERIC", "1 when the answer contains the expected answer, both normalised (lower case, "
     "punctuation dropped, whitespace collapsed), else 0; on a run: the share of correct answers", 0, 1, None),
    ("cached_tokens", "NUMERIC", "Prompt tokens served from a cache, as vLLM reports them", 0, None, None),
    ("lmcache_hit_tokens", "NUMERIC", "Prompt tokens LMCache served (its L1 memory and L2 disk or Redis)", 0, None, None),
    ("cache_source", "CATEGORICAL", "Where most of the call's cached tokens came from", None, None, CACHE_SOURCES),
    ("ttft_median_ms", "NUMERIC", "Run score: median TTFT of the variant's compared calls, ms", 0, None, None),
    ("ttft_p90_ms", "NUMERIC", "Run score: 90th percentile TTFT of the variant's compared calls, ms", 0, None, None),
    ("ttft_reduction", "NUMERIC", "Run score: 1 - median TTFT / the baseline variant's median TTFT", None, 1, None),
]  # fmt: skip
ITEM_SCORES = ["cached_tokens", "lmcache_hit_tokens"]
# Stack settings that decide what a cache can do: the run metadata keeps them.
STACK_SETTINGS = ["profile", "served_model_name", "prefix_caching", "lmcache", "chunk_size", "kv_cache_gib",
                  "lmcache_l1_gib", "disk_dir", "redis", "instances", "max_model_len", "dtype"]  # fmt: skip


@dataclass(frozen=True)
class Manual:
    name: str
    tokens: int
    fingerprint: str


@dataclass(frozen=True)
class ExperimentPlan:
    """What one run records: its id and scenario, the manual, the run metadata and the L2 tier."""

    run_id: str
    scenario: str
    manual: Manual
    metadata: dict = field(default_factory=dict)
    l2_tier: str = "lmcache disk"  # what an L2 hit means on this stack: "lmcache disk" or "redis"
    baseline: str | None = None  # the scenario's baseline variant (None: the run's first)

    @property
    def dataset(self) -> str:
        m = self.manual
        return f"{DATASET_PREFIX}/{self.scenario}/{m.name}-{m.tokens}t-{m.fingerprint[:8]}"

    def run_name(self, variant: str) -> str:
        return f"{self.run_id} {variant}"

    def item_id(self, question: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.dataset}\n{question}"))

    def experiment_id(self, variant: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.dataset}\n{self.run_name(variant)}"))


def manual_of(manual_path: str, manual_tokens: int) -> Manual:
    """The manual's name, size and fingerprint (a hash of its text, so an edited file is a new dataset)."""
    from prompts.manual import builtin_manual, read_manual

    text = read_manual(manual_path) if manual_path else builtin_manual()
    name = Path(manual_path).name if manual_path else "python-docs-topics"
    return Manual(name, int(manual_tokens), hashlib.sha256(text.encode()).hexdigest()[:16])


def git_commit(root: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def experiment_plan(run_id: str, scenario: str, context: dict, stack: dict, versions: dict, baseline: str | None = None) -> ExperimentPlan:
    """The plan of a run_graph run, from its Context and stack settings (plain dicts)."""
    settings = {k: stack[k] for k in STACK_SETTINGS if k in stack}
    metadata = {
        "run_id": run_id, "scenario": scenario, "model": context.get("model"), "layout": context.get("layout"),
        "manual_tokens": context.get("manual_tokens"), "max_tokens": context.get("max_tokens"),
        "chunk_size": context.get("chunk_size"), "git_commit": git_commit(), "profile": stack.get("profile"),
        "stack": settings, "versions": versions,
    }  # fmt: skip
    redis = bool(stack.get("redis") or stack.get("redis_url"))
    return ExperimentPlan(run_id, scenario, manual_of(context.get("manual_path") or "", context.get("manual_tokens") or 0),
                          metadata, "redis" if redis else "lmcache disk", baseline)  # fmt: skip


def cache_source(record: dict, l2_tier: str = "lmcache disk") -> str | None:
    """Where most of a call's cached tokens came from; None when the source split is unknown."""
    if not record.get("cached_tokens"):
        return "none"
    parts = {
        "vllm": record.get("device_hit_tokens"),
        "lmcache memory": record.get("lmcache_l1_hit_tokens"),
        l2_tier: record.get("lmcache_l2_hit_tokens"),
    }
    known = {k: v for k, v in parts.items() if v is not None}
    if not known:
        return None
    if not any(known.values()):
        # LMCache's total without a tier split (an older server): memory is its first tier.
        return "lmcache memory" if record.get("lmcache_hit_tokens") else "none"
    return max(known, key=lambda k: known[k])


@dataclass
class Link:
    """One traced call, to be linked to its dataset item in its variant's experiment run."""

    variant: str
    question: str
    trace_id: str
    observation_id: str
    record: dict


class ExperimentRecorder:
    """Collects a run's traced calls (``on_call``, from the tracing handler) and records them as
    LangFuse experiment runs at flush (``record``)."""

    def __init__(self, client, plan: ExperimentPlan):
        self.client = client
        self.plan = plan
        self.links: list[Link] = []
        self.results: pd.DataFrame | None = None
        self.recorded: dict | None = None  # what record() did, for the run folder

    def on_call(self, record, metadata: dict, span) -> None:
        """Label the call's span as an experiment item (the attributes a LangFuse v4 server reads)."""
        from langfuse import LangfuseOtelSpanAttributes as A
        from opentelemetry import trace

        row = record.row()
        variant = call_labels(metadata, record.question_id)["variant"] or "default"
        question = str(record.question or "")
        ctx = span.get_span_context()
        trace_id, span_id = trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)
        m = self.plan.manual
        span.set_attributes({
            A.EXPERIMENT_ID: self.plan.experiment_id(variant),
            A.EXPERIMENT_NAME: self.plan.run_name(variant),
            A.EXPERIMENT_DESCRIPTION: self.describe(variant),
            A.EXPERIMENT_METADATA: json.dumps(self.run_metadata(variant), default=str),
            A.EXPERIMENT_ITEM_ID: self.plan.item_id(question),
            A.EXPERIMENT_ITEM_METADATA: json.dumps({"manual": m.name, "manual_tokens": m.tokens,
                                                    "manual_fingerprint": m.fingerprint}),
            A.EXPERIMENT_ITEM_ROOT_OBSERVATION_ID: span_id,
        })  # fmt: skip
        self.links.append(Link(variant, question, trace_id, span_id, row))

    def describe(self, variant: str) -> str:
        baseline = " (baseline)" if variant == self.baseline() else ""
        return f"{self.plan.scenario} run {self.plan.run_id}, variant {variant}{baseline}"

    def baseline(self) -> str | None:
        variants = list(dict.fromkeys(l.variant for l in self.links))
        if self.results is not None and not self.results.empty:
            variants = list(dict.fromkeys(self.results["variant"].astype(str)))
        return baseline_among(self.plan.baseline, variants)

    def run_metadata(self, variant: str) -> dict:
        return {**self.plan.metadata, "variant": variant, "baseline_variant": self.baseline(),
                "baseline": variant == self.baseline()}  # fmt: skip

    def summary(self) -> dict:
        """Dataset and runs, for summary.json and report.md (known before anything is sent)."""
        variants = list(dict.fromkeys(l.variant for l in self.links))
        return {"dataset": self.plan.dataset, "runs": [self.plan.run_name(v) for v in variants],
                "baseline_run": self.plan.run_name(self.baseline()) if self.baseline() in variants else None}  # fmt: skip

    # The REST part, at flush.

    def record(self) -> dict:
        """Configs, dataset, items, run items, item and run scores. Raises on a REST failure (the
        flush reports it as one warning line)."""
        if not self.links:
            return {}
        api = self.client.api
        configs = self._score_configs(api)
        dataset_id = self._dataset()
        baseline = self.baseline()
        with ThreadPoolExecutor(max_workers=8) as pool:
            run_items = list(pool.map(lambda l: self._run_item(api, l), self.links))
        run_ids = {l.variant: item.dataset_run_id for l, item in zip(self.links, run_items)}
        for link in self.links:
            self._item_scores(link, configs)
        self._run_scores(run_ids, baseline, configs)
        self.recorded = {"dataset_id": dataset_id, "run_ids": run_ids}
        return self.recorded

    def _score_configs(self, api) -> dict[str, str]:
        from langfuse.api import ConfigCategory

        existing = {c.name: c.id for c in api.score_configs.get(limit=100).data if not c.is_archived}
        for name, kind, description, low, high, categories in SCORE_CONFIGS:
            if name in existing:
                continue
            extra = {}
            if low is not None:
                extra["min_value"] = low
            if high is not None:
                extra["max_value"] = high
            if categories:
                extra["categories"] = [ConfigCategory(label=c, value=i) for i, c in enumerate(categories)]
            existing[name] = api.score_configs.create(name=name, data_type=kind, description=description, **extra).id
        return existing

    def _dataset(self) -> str:
        """The dataset's id, creating it and the items it lacks; existing ones are reused."""
        from langfuse.api import NotFoundError

        m = self.plan.manual
        manual = {"manual": m.name, "manual_tokens": m.tokens, "manual_fingerprint": m.fingerprint}
        try:
            dataset = self.client.get_dataset(self.plan.dataset, fetch_items_page_size=100)
            dataset_id, known = dataset.id, {i.id for i in dataset.items}
        except NotFoundError:
            dataset_id, known = self.client.create_dataset(
                name=self.plan.dataset, metadata={"scenario": self.plan.scenario, **manual},
                description=f"Questions of the {self.plan.scenario} scenario over the manual {m.name} "
                f"({m.tokens} tokens), as asked by lmcache-lab runs",
            ).id, set()  # fmt: skip
        expected = {l.question: l.record.get("expected") or None for l in self.links}
        questions = [q for q in expected if self.plan.item_id(q) not in known]
        with ThreadPoolExecutor(max_workers=8) as pool:  # a remote LangFuse: one round trip each
            list(pool.map(lambda q: self.client.create_dataset_item(
                dataset_name=self.plan.dataset, id=self.plan.item_id(q), input={"question": q}, metadata=manual,
                expected_output=expected[q],
            ), questions))  # fmt: skip
        return dataset_id

    def _run_item(self, api, link: Link):
        return api.dataset_run_items.create(
            run_name=self.plan.run_name(link.variant), run_description=self.describe(link.variant),
            metadata=self.run_metadata(link.variant), dataset_item_id=self.plan.item_id(link.question),
            trace_id=link.trace_id, observation_id=link.observation_id,
        )  # fmt: skip

    def _item_scores(self, link: Link, configs: dict) -> None:
        ids = {"trace_id": link.trace_id, "observation_id": link.observation_id}
        for name in ITEM_SCORES:
            if link.record.get(name) is not None:
                self.client.create_score(name=name, value=float(link.record[name]), data_type="NUMERIC",
                                         config_id=configs.get(name), **ids)  # fmt: skip
        source = cache_source(link.record, self.plan.l2_tier)
        if source is not None:
            self.client.create_score(name="cache_source", value=source, data_type="CATEGORICAL",
                                     config_id=configs.get("cache_source"), **ids)  # fmt: skip

    def _run_scores(self, run_ids: dict[str, str], baseline: str | None, configs: dict) -> None:
        rows = self.results
        if rows is None or rows.empty:
            rows = pd.DataFrame([{**l.record, "variant": l.variant, "session": l.trace_id} for l in self.links])
        rows = compared_rows(rows[rows["ttft_ms"].notna()])
        figures = {v: variant_figures(g) for v, g in rows.groupby(rows["variant"].astype(str), sort=False)}
        base_ms = figures.get(baseline, {}).get("ttft_median_ms")
        for variant, run_id in run_ids.items():
            f = figures.get(variant)
            if f is None:
                continue
            scores = {"ttft_median_ms": f["ttft_median_ms"], "ttft_p90_ms": f["ttft_p90_ms"], "hit_rate": f["hit_rate"],
                      "correct": f["correct"]}  # fmt: skip
            if base_ms and variant != baseline:
                scores["ttft_reduction"] = round(1 - f["ttft_median_ms"] / base_ms, 4)
            for name, value in scores.items():
                if value is not None:
                    comment = f"against {self.plan.run_name(baseline)}" if name == "ttft_reduction" else None
                    self.client.create_score(name=name, value=float(value), dataset_run_id=run_id, data_type="NUMERIC",
                                             config_id=configs.get(name), comment=comment)  # fmt: skip
