"""Harness overhead: the same cold and hit calls through the QA graph and through a bare HTTP client.

Per repeat, three sessions on one server:
- ``graph``: the normal path (LangGraph node, langchain-openai), on a fresh manual edition;
- ``bare``: the very same messages (built by the graph's own nodes) sent by a bare httpx streaming
  client, on another fresh edition so its first call is cold too;
- ``suffix``: the question alone, without the manual: the floor of any cache hit.
The three run interleaved call by call (graph call i, bare call i, suffix call i), in an order
that flips every call and every repeat: on a shared machine the load drifts, and neighbouring calls
see about the same load. Figures are medians:
harness/bare for cold and hit calls (1.00 means the harness adds nothing), and hit/suffix-only
(how close a hit comes to computing the question alone).
"""

from itertools import groupby
from typing import TYPE_CHECKING

import pandas as pd

from experiments.run.clients import BARE, QA_GRAPH, SUFFIX
from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario, ScenarioOptions
from experiments.analysis.summary import median_ratio

if TYPE_CHECKING:
    from experiments.run.executor import Executor

CLIENTS = (QA_GRAPH, BARE, SUFFIX)


class Overhead(Scenario):
    name = "overhead"
    pinned_context = {"layout": "manual_first"}
    bench_args = {"repeats": 6}
    description = "the same cold and hit calls through the graph and a bare HTTP client, and the question alone"
    # No gate by default: on a shared 2-core machine a 5% band is within run-to-run noise of a cold
    # call. --expect-reduction F turns it on: exit 1 when harness/bare exceeds 1 + F, cold or hit.
    default_expect = None
    min_questions = 2

    def sessions(self, opts: ScenarioOptions) -> Plan:
        ctx = self.pin(opts.context)
        sessions = []
        for r in range(opts.repeats):
            hits = opts.questions - 1
            variants = {QA_GRAPH: ["graph_cold"] + ["graph_hit"] * hits, BARE: ["bare_cold"] + ["bare_hit"] * hits,
                        SUFFIX: ["suffix_only"] * opts.questions}  # fmt: skip
            editions = {QA_GRAPH: f"edition {opts.run_id}-{r}g", BARE: f"edition {opts.run_id}-{r}b", SUFFIX: ""}
            order = CLIENTS if r % 2 == 0 else CLIENTS[::-1]
            sessions += [question_session(f"{self.name}-{c.name}-r{r}", r, opts.questions, editions[c], ctx,
                                          variants=variants[c], client=c, pool=opts.question_pool) for c in order]  # fmt: skip
        return Plan(sessions)

    def run(self, plan: Plan, executor: "Executor") -> None:
        """Per repeat, one call of each session in turn, the order reversed on every other call."""
        for _, group in groupby(plan, key=lambda s: s.repeat):
            group = list(group)
            streams = [executor.calls(s) for s in group]
            for i in range(len(group[0].questions)):
                for stream in streams if i % 2 == 0 else streams[::-1]:
                    next(stream)
            for stream in streams:
                for _ in stream:  # lets each session end (the graph reaches its end node)
                    pass

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        medians = rows.groupby("variant")["ttft_ms"].median().round(1)
        return {
            **{f"{v}_ttft_median_ms": medians.get(v) for v in ("graph_cold", "bare_cold", "graph_hit", "bare_hit", "suffix_only")},
            "harness_over_bare_cold": median_ratio(df, self.name, "graph_cold", "bare_cold"),
            "harness_over_bare_hit": median_ratio(df, self.name, "graph_hit", "bare_hit"),
            "graph_hit_over_suffix_only": median_ratio(df, self.name, "graph_hit", "suffix_only"),
            "bare_hit_over_suffix_only": median_ratio(df, self.name, "bare_hit", "suffix_only"),
        }

    def summary_lines(self, comparison: dict) -> list[str]:
        def x(key: str) -> str:
            v = comparison.get(key)
            return "-" if v is None else f"{v:.3f}"

        return [
            f"harness/bare TTFT (medians): cold [bold]{x('harness_over_bare_cold')}[/], hit [bold]{x('harness_over_bare_hit')}[/]",
            f"hit/suffix-only TTFT (medians): graph [bold]{x('graph_hit_over_suffix_only')}[/], bare {x('bare_hit_over_suffix_only')}",
        ]

    def check(self, comparison: dict, expect: float | None) -> str | None:
        if expect is None:
            return None
        for kind in ("cold", "hit"):
            got = comparison.get(f"harness_over_bare_{kind}")
            if got is None:
                return f"no graph and bare {kind} calls were measured, so the harness overhead is unknown"
            if got > 1 + expect:
                return f"harness/bare TTFT on {kind} calls is {got:.3f}, above the allowed {1 + expect:.2f}"
        return None
