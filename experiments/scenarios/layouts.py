"""Prompt layouts: the same questions over the same manual, once per layout, each from cold caches.

Where the dynamic text sits decides what the cache can reuse. Every layout/repeat session reads
its own fresh manual edition, so no layout profits from another's KV; question 1 of each session
is cold, questions 2..N show what the layout lets the cache do. Each call also carries the
tokenizer's prediction (shared prefix, chunk-aligned cacheable tokens) next to the observation.

Pass/fail (exit 1 otherwise): on questions 2..N, ``manual_first`` hits at least 90% of its prompt
tokens, ``instructions_first`` and ``timestamp_system`` at most 10%; every ``manual_first`` call's
observed cached tokens are within one chunk of the prediction; with ``--expect-reduction F``, the
median TTFT of ``manual_first`` is also at least F below each busting layout's.
"""

from dataclasses import replace

import pandas as pd

from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario, ScenarioOptions
from prompts.layouts import LAYOUTS

FRIENDLY = "manual_first"
BUSTING = ("instructions_first", "timestamp_system")
FRIENDLY_MIN_HIT_RATE = 0.90
BUSTING_MAX_HIT_RATE = 0.10


def _r(value, digits: int = 4):
    """JSON-friendly: None for missing, whole tokens as int."""
    if value is None or pd.isna(value):
        return None
    return int(round(float(value))) if digits == 0 else round(float(value), digits)


def flagged(df: pd.DataFrame) -> pd.Series:
    """Calls whose cached tokens were more than one chunk off the prediction (they carry a note)."""
    return df["cache_note"].astype("string").fillna("") != ""


def layout_figures(df: pd.DataFrame, scenario: str, base: str = FRIENDLY) -> dict[str, dict]:
    """Per layout: questions 2..N (the calls a cache can help) and the prediction check on all calls."""
    rows = df[df["scenario"] == scenario]
    later = rows[rows["question_id"] >= 1]
    base_ms = later.loc[later["variant"] == base, "ttft_ms"].median()
    cold_ms = rows.loc[rows["question_id"] == 0, "ttft_ms"].median()
    figures = {}
    for layout, calls in rows.groupby("variant", sort=False):
        hits = calls[calls["question_id"] >= 1]
        off = (calls["cached_tokens"] - calls["predicted_cached_tokens"]).abs()
        ttft = hits["ttft_ms"].median()
        figures[layout] = {
            "calls_2_to_n": int(len(hits)),
            "ttft_median_ms": _r(ttft, 1),
            "ttft_vs_base": _r(ttft / base_ms if base_ms else None, 3),
            "ttft_vs_cold": _r(ttft / cold_ms if cold_ms else None, 3),
            "hit_rate_mean": _r(hits["hit_rate"].mean()),
            "prompt_tokens": _r(hits["prompt_tokens"].median(), 0),
            "shared_prefix_tokens": _r(hits["shared_prefix_tokens"].median(), 0),
            "predicted_cached_tokens": _r(hits["predicted_cached_tokens"].median(), 0),
            "cached_tokens": _r(hits["cached_tokens"].median(), 0),
            "lmcache_hit_tokens": _r(hits["lmcache_hit_tokens"].median(), 0),
            "device_hit_tokens": _r(hits["device_hit_tokens"].median(), 0),
            "prediction_max_error": _r(off.max(), 0),
            "prediction_mismatches": int(flagged(calls).sum()),
        }
    return figures


class Layouts(Scenario):
    min_questions = 2
    name = "layouts"
    bench_args = {"questions": 5, "manual_tokens": 4400}
    baseline = "instructions_first"
    description = "the same questions in each prompt layout, each from cold caches"
    default_expect = None
    varied_context = ("layout",)  # every layout in LAYOUTS, whatever LMLAB_LAYOUT says

    def sessions(self, opts: ScenarioOptions) -> Plan:
        # Repeats outermost, so slow drift of the machine spreads over all layouts alike.
        return Plan([
            question_session(f"{self.name}-{layout}-r{r}", r, opts.questions, f"edition {opts.run_id}-{layout}-{r}",
                             replace(opts.context, layout=layout), variants=[layout] * opts.questions, pool=opts.question_pool)  # fmt: skip
            for r in range(opts.repeats)
            for layout in LAYOUTS
        ])

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        rows = df[df["scenario"] == self.name]
        return {
            "base_layout": FRIENDLY,
            "cold_ttft_median_ms": _r(rows.loc[rows["question_id"] == 0, "ttft_ms"].median(), 1),
            "layouts": layout_figures(df, self.name),
        }

    def report_rows(self, comparison: dict) -> list[dict]:
        pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
        ratio = lambda v: "-" if v is None else f"{v:.2f}x"  # noqa: E731
        return [
            {"layout": name, "TTFT q2..N": f"{f['ttft_median_ms']:.0f} ms", f"vs {comparison['base_layout']}": ratio(f["ttft_vs_base"]),
             "vs cold": ratio(f["ttft_vs_cold"]), "hit q2..N": pct(f["hit_rate_mean"]), "shared": f["shared_prefix_tokens"],
             "predicted": f["predicted_cached_tokens"], "cached": f["cached_tokens"], "off > chunk": f["prediction_mismatches"]}
            for name, f in comparison["layouts"].items()
        ]  # fmt: skip

    def check(self, comparison: dict, expect: float | None) -> str | None:
        layouts = comparison.get("layouts", {})
        problems = []
        friendly = layouts.get(FRIENDLY)
        if friendly is None or friendly["hit_rate_mean"] is None:
            return f"no {FRIENDLY} calls after the first were measured (use --questions 2 or more)"
        if friendly["hit_rate_mean"] < FRIENDLY_MIN_HIT_RATE:
            problems.append(f"{FRIENDLY} hit rate {friendly['hit_rate_mean']:.1%} is below {FRIENDLY_MIN_HIT_RATE:.0%}")
        if friendly["prediction_mismatches"]:
            problems.append(f"{friendly['prediction_mismatches']} {FRIENDLY} calls were more than one chunk off prediction")
        for name in BUSTING:
            f = layouts.get(name)
            if f is None or f["hit_rate_mean"] is None:
                continue
            if f["hit_rate_mean"] > BUSTING_MAX_HIT_RATE:
                problems.append(f"{name} hit rate {f['hit_rate_mean']:.1%} is above {BUSTING_MAX_HIT_RATE:.0%}")
            if expect is not None and f["ttft_vs_base"] and 1 - 1 / f["ttft_vs_base"] < expect:
                cut = 1 - 1 / f["ttft_vs_base"]
                problems.append(f"{FRIENDLY} TTFT is {cut:.1%} below {name}'s, expected {expect:.0%}")
        return "; ".join(problems) or None
