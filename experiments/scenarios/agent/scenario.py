"""Agents: several LLM nodes (plan, answer, check) per question over one manual, in each agent layout.

Every session runs the agent graph over its own fresh manual edition, so each one starts cold:

- ``shared_prefix`` and ``per_node_system``: independent questions; the two agent layouts;
- ``followup_append`` and ``followup_rewrite`` (layout ``shared_prefix``): the questions are turns
  of one conversation, the earlier turns appended after the manual, or behind a running summary
  rewritten each turn (the common mistake).

A call is *cold* when the cache served less than 90% of the static prefix's tokens (system text +
manual). Pass mark (exit 1 otherwise):

- every ``shared_prefix`` session (follow-ups included) has exactly one cold call, its first: every
  other call (other nodes, later questions, retries) hits at least 90% of the static prefix;
- every ``per_node_system`` session has at least one cold call per node;
- the first question's wall time (the sum of its calls) under ``shared_prefix`` is at least 2x
  shorter than under ``per_node_system`` (medians over repeats).
"""

from dataclasses import replace

import pandas as pd

from experiments.run.clients import AGENT_GRAPH
from experiments.run.plan import Plan, Session, questions_for
from experiments.scenarios.agent.charts import agent_hit_rate_by_node, agent_waterfall, followup_cached_tokens
from experiments.scenarios.base import Scenario, ScenarioOptions
from prompts.agent import NODES

SHARED, PER_NODE = "shared_prefix", "per_node_system"
# variant -> (agent layout, conversation mode)
VARIANTS = {
    SHARED: (SHARED, "independent"),
    PER_NODE: (PER_NODE, "independent"),
    "followup_append": (SHARED, "append"),
    "followup_rewrite": (SHARED, "rewrite"),
}
COLD_BELOW = 0.90  # a call whose cached tokens cover less of the static prefix is cold
MIN_FIRST_QUESTION_SPEEDUP = 2.0


def _r(value, digits: int = 1):
    if value is None or pd.isna(value):
        return None
    return int(round(float(value))) if digits == 0 else round(float(value), digits)


def agent_rows(df: pd.DataFrame, scenario: str = "agent") -> pd.DataFrame:
    """The agent nodes' calls of ``scenario``, in call order, each marked ``cold`` or not."""
    rows = df[(df["scenario"] == scenario) & df["node"].isin(NODES)].copy()
    rows = rows.sort_values(["session", "started_at"], kind="stable")
    rows["cold"] = rows["cached_tokens"] < COLD_BELOW * rows["static_prefix_tokens"]
    return rows


def question_walls(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, session, question): its wall time, the sum of its calls' total times."""
    return rows.groupby(["variant", "session", "question_id"], sort=False, as_index=False).agg(
        wall_ms=("total_ms", "sum"), calls=("total_ms", "size"))  # fmt: skip


def variant_figures(calls: pd.DataFrame) -> dict:
    """One variant's figures: per node TTFT and hit rate, cold calls per manual, question wall times."""
    sessions = calls.groupby("session", sort=False)
    cold_per_manual = sessions["cold"].sum()
    first_cold = sessions["cold"].first()  # the session's first call
    later = calls[calls.groupby("session").cumcount() > 0]
    walls = question_walls(calls)
    nodes = {}
    for node in NODES:
        n = calls[calls["node"] == node]
        if n.empty:
            continue
        nodes[node] = {
            "calls": int(len(n)),
            "ttft_median_ms": _r(n["ttft_ms"].median()),
            "hit_rate_mean": _r(n["hit_rate"].mean(), 4),
            "cold_calls_per_manual": _r(n.groupby("session")["cold"].sum().reindex(cold_per_manual.index, fill_value=0).mean(), 2),
            "min_cold_calls_per_manual": int(n.groupby("session")["cold"].sum().reindex(cold_per_manual.index, fill_value=0).min()),
        }
    static = calls["static_prefix_tokens"].replace(0, pd.NA)
    return {
        "layout": str(calls["layout"].iloc[0]),
        "manuals": int(len(cold_per_manual)),
        "calls": int(len(calls)),
        "cold_calls_per_manual": sorted({int(v) for v in cold_per_manual}),
        "first_call_cold_in_every_manual": bool(first_cold.all()),
        "later_calls_min_static_hit": _r((later["cached_tokens"] / static.loc[later.index]).min(), 4) if not later.empty else None,
        "retries": int((calls["node"] == "answer").sum() - walls.shape[0]),
        "fallbacks": int((calls["fallback"].astype("string").fillna("") != "").sum()),
        "question_wall_median_ms": _r(walls["wall_ms"].median()),
        "first_question_wall_median_ms": _r(walls.loc[walls["question_id"] == 0, "wall_ms"].median()),
        "nodes": nodes,
    }


def followup_turns(rows: pd.DataFrame) -> dict[str, list[dict]]:
    """Per follow-up mode, per turn, the turn's first call (the plan): prompt, shared and cached
    tokens (medians over repeats), and how many of the cached ones lie beyond the static prefix."""
    out = {}
    turns = rows[rows["turn"].notna() & (rows["node"] == "plan")]
    for variant, calls in turns.groupby("variant", sort=False):
        first = calls.groupby(["session", "turn"], sort=False).head(1)
        per_turn = first.groupby("turn").agg(
            prompt_tokens=("prompt_tokens", "median"), static_prefix_tokens=("static_prefix_tokens", "median"),
            shared_prefix_tokens=("shared_prefix_tokens", "median"), cached_tokens=("cached_tokens", "median"),
        )  # fmt: skip
        out[variant] = [
            {"turn": int(t), **{k: _r(v, 0) for k, v in r.items()},
             "uncached_tokens": _r(r["prompt_tokens"] - r["cached_tokens"], 0)}
            for t, r in per_turn.iterrows()
        ]  # fmt: skip
    return out


def agent_comparison(df: pd.DataFrame, scenario: str = "agent") -> dict:
    rows = agent_rows(df, scenario)
    groups = dict(list(rows.groupby("variant", sort=False)))
    order = [v for v in VARIANTS if v in groups] + [v for v in groups if v not in VARIANTS]
    variants = {v: variant_figures(groups[v]) for v in order}
    shared = (variants.get(SHARED) or {}).get("first_question_wall_median_ms")
    per_node = (variants.get(PER_NODE) or {}).get("first_question_wall_median_ms")
    speedup = round(per_node / shared, 3) if shared and per_node else None
    return {"cold_below_static_share": COLD_BELOW, "variants": variants, "first_question_speedup": speedup,
            "followups": followup_turns(rows)}  # fmt: skip


def agent_check(comparison: dict) -> str | None:
    variants = comparison.get("variants") or {}
    problems = []
    if SHARED not in variants or PER_NODE not in variants:
        return f"the run needs both {SHARED} and {PER_NODE} sessions"
    for name, f in variants.items():
        if f["layout"] == SHARED:
            if f["cold_calls_per_manual"] != [1] or not f["first_call_cold_in_every_manual"]:
                problems.append(f"{name}: {f['cold_calls_per_manual']} cold calls per manual, expected exactly 1 (the first)")
            low = f["later_calls_min_static_hit"]
            if low is not None and low < COLD_BELOW:
                problems.append(f"{name}: a later call hit only {low:.1%} of the static prefix, expected at least {COLD_BELOW:.0%}")
        elif f["layout"] == PER_NODE:
            short = [n for n in NODES if (f["nodes"].get(n) or {}).get("min_cold_calls_per_manual", 0) < 1]
            if short:
                problems.append(f"{name}: no cold call on some manual for node(s) {', '.join(short)}; expected one per node per manual")
    speedup = comparison.get("first_question_speedup")
    if speedup is None:
        problems.append("no first-question wall time to compare")
    elif speedup < MIN_FIRST_QUESTION_SPEEDUP:
        problems.append(f"the first question took {speedup:.2f}x less wall time under {SHARED} than under {PER_NODE}, "
                        f"expected at least {MIN_FIRST_QUESTION_SPEEDUP:.0f}x")  # fmt: skip
    return "; ".join(problems) or None


class Agent(Scenario):
    name = "agent"
    bench_args = {}
    charts = (
        (agent_waterfall, "Agent nodes per question, TTFT end to end"),
        (agent_hit_rate_by_node, "Cache hit rate per agent node and variant"),
        (followup_cached_tokens, "Follow-up turns: reusable and cached tokens per turn"),
    )
    description = "plan -> answer -> check per question over one manual, per agent layout and follow-up mode"
    calls_per_question = len(NODES)

    def sessions(self, opts: ScenarioOptions) -> Plan:
        # Repeats outermost, so slow drift of the machine spreads over all variants alike.
        return Plan([
            Session(
                name=f"{self.name}-{variant}-r{r}",
                repeat=r,
                questions=questions_for(r, opts.questions, opts.question_pool),
                variants=[variant] * opts.questions,
                edition=f"edition {opts.run_id}-{variant}-{r}",
                context=replace(opts.context, agent_layout=layout, conversation=conversation),
                client=AGENT_GRAPH,
            )
            for r in range(opts.repeats)
            for variant, (layout, conversation) in VARIANTS.items()
        ])

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        return agent_comparison(df, self.name)

    def report_rows(self, comparison: dict) -> list[dict]:
        """One row per variant and node."""
        ms = lambda v: "-" if v is None else f"{v:,.0f} ms"  # noqa: E731
        pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
        return [
            {"variant": name, "node": node, "calls": n["calls"], "TTFT median": ms(n["ttft_median_ms"]),
             "hit rate": pct(n["hit_rate_mean"]), "cold calls / manual": n["cold_calls_per_manual"]}
            for name, f in comparison["variants"].items()
            for node, n in f["nodes"].items()
        ]  # fmt: skip

    def summary_lines(self, comparison: dict) -> list[str]:
        ms = lambda v: "-" if v is None else f"{v:,.0f} ms"  # noqa: E731
        lines = []
        for name, f in comparison["variants"].items():
            lines.append(f"{name}: cold calls per manual {f['cold_calls_per_manual']}, question wall time median "
                         f"{ms(f['question_wall_median_ms'])} (first question {ms(f['first_question_wall_median_ms'])}), "
                         f"{f['retries']} retries, {f['fallbacks']} replies that did not parse")  # fmt: skip
        if comparison.get("first_question_speedup"):
            lines.append(f"first question, wall time: {comparison['first_question_speedup']:.2f}x shorter under {SHARED} "
                         f"than under {PER_NODE} (pass mark {MIN_FIRST_QUESTION_SPEEDUP:.0f}x)")  # fmt: skip
        for mode, turns in comparison.get("followups", {}).items():
            cells = ", ".join(f"t{t['turn']} {t['shared_prefix_tokens']}/{t['cached_tokens']}/{t['prompt_tokens']}" for t in turns)
            lines.append(f"{mode}, each turn's first call, shared/cached/prompt tokens: {cells}")
        return lines

    def check(self, comparison: dict, expect: float | None) -> str | None:
        return agent_check(comparison)
