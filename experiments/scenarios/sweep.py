"""Size sweep: cold vs hit TTFT for manuals from about 512 tokens to near the context limit.

Each size is one session on a fresh manual edition: its first question is cold, the next ones are
hits. A straight line through the per-size median TTFT against prompt tokens gives each variant's
cost per 1k tokens: a cold call prefills the whole prompt, so it grows with the manual; a hit only
computes the question, so it stays near flat.

Sizes: ``LMLAB_SWEEP_SIZES`` (comma-separated manual tokens, default 512 ... 7168); ``--manual-tokens N``
makes N the largest size. The default model serves 8192 tokens, which leaves room for a manual of
about 7,800 after the system text, question and answer.
"""

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from experiments.run.plan import Plan, question_session
from experiments.scenarios.base import Scenario, ScenarioOptions
from graphs.context import Context
from lab.settings import env_name
from lab.errors import UserError
from nodes.manual import QUESTION_RESERVE_TOKENS
from prompts.layouts import static_prefix

DEFAULT_SIZES = (512, 1024, 2048, 3072, 4096, 5120, 6144, 7168)
SIZES_VAR = env_name("sweep_sizes")  # LMLAB_SWEEP_SIZES


def parse_sizes(text: str) -> list[int]:
    """``"512, 1024,2048"`` -> ``[512, 1024, 2048]``, or a one-line error naming the variable."""
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise UserError(f"{SIZES_VAR}={text!r} is not a comma-separated list of token counts, e.g. 512,2048,4096") from None
    if not sizes or min(sizes) < 1:
        raise UserError(f"{SIZES_VAR}={text!r} needs at least one positive token count, e.g. 512,2048,4096")
    return sizes


@dataclass(frozen=True, kw_only=True)
class SweepParams:
    """The sweep's own knobs (``lab.settings.resolve_params``)."""

    sweep_sizes: tuple[int, ...] = field(
        default=DEFAULT_SIZES,
        metadata={"description": "sweep: the manual sizes in tokens, comma-separated; --manual-tokens N makes N the largest.",
                  "parse": lambda text: tuple(parse_sizes(text))},
    )  # fmt: skip


def plan_sizes(sizes: list[int], top: int | None) -> list[int]:
    """The sizes to run, ascending; with ``top`` (--manual-tokens) the ones below it, then ``top``."""
    if top is not None:
        sizes = [s for s in sizes if s < top] + [top]
    return sorted(set(sizes))


def manual_room(ctx: Context, edition: str) -> int:
    """Largest manual the served context leaves room for (the limit ``nodes.manual`` enforces)."""
    system = ctx.server.count_chat_tokens([{"role": "system", "content": static_prefix("", edition)}], add_generation_prompt=False)
    return ctx.server.max_model_len() - ctx.max_tokens - QUESTION_RESERVE_TOKENS - system


def per_size(df: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Median prompt tokens and TTFT per (size, variant); ``size`` is the manual budget the session
    asked for, read from its name (``sweep-<size>-r<repeat>``)."""
    rows = df[df["scenario"] == scenario].copy()
    rows["size"] = rows["session"].str.extract(r"-(\d+)-r\d+$", expand=False).astype(int)
    return (
        rows.groupby(["size", "variant"])
        .agg(prompt_tokens=("prompt_tokens", "median"), ttft_ms=("ttft_ms", "median"), calls=("ttft_ms", "size"))
        .reset_index()
    )


def size_row(size: int, g: pd.DataFrame) -> dict:
    """One line of the summary's size table: the size, its prompt tokens, cold and hit median TTFT."""
    ttft = g.set_index("variant")["ttft_ms"].round(1)
    return {"size": int(size), "prompt_tokens": int(g["prompt_tokens"].max()),
            "cold_ttft_ms": ttft.get("cold"), "hit_ttft_ms": ttft.get("hit")}  # fmt: skip


def fit_slope(points: pd.DataFrame) -> tuple[float, float] | None:
    """(ms per 1k prompt tokens, intercept ms) of a least-squares line through ``ttft_ms`` against
    ``prompt_tokens``; None with fewer than two distinct sizes."""
    if points["prompt_tokens"].nunique() < 2:
        return None
    slope, intercept = np.polyfit(points["prompt_tokens"] / 1000, points["ttft_ms"], 1)
    return round(float(slope), 2), round(float(intercept), 2)


class Sweep(Scenario):
    name = "sweep"
    pinned_context = {"layout": "manual_first", "truncate_manual": True}  # it cuts the manual to its own sizes
    bench_args = {}
    baseline = "cold"
    description = "cold vs hit TTFT across manual sizes: cold grows with the prompt, a hit stays near flat"
    # --expect-reduction here: how much flatter the hit line must be; 0.90 means hit slope <= 10% of cold slope.
    default_expect = 0.90
    min_questions = 2
    params_class = SweepParams

    def sessions(self, opts: ScenarioOptions) -> Plan:
        sizes = plan_sizes(list(opts.params.sweep_sizes), opts.manual.tokens if opts.manual.given else None)
        room = manual_room(opts.context, self.edition(opts.run_id, sizes[-1], opts.repeats - 1))
        if sizes[-1] > room:
            raise UserError(
                f"the sweep's largest manual ({sizes[-1]} tokens) does not fit: the context leaves {room} tokens "
                f"for it after the system text, question and answer; lower --manual-tokens or {SIZES_VAR}"
            )
        sessions = []
        for r in range(opts.repeats):
            # Every other repeat runs the sizes largest first, so a slow drift of the machine does not tilt the line.
            for size in sizes if r % 2 == 0 else sizes[::-1]:
                ctx = replace(self.pin(opts.context), manual_tokens=size)
                sessions.append(question_session(f"{self.name}-{size}-r{r}", r, opts.questions, self.edition(opts.run_id, size, r), ctx,
                                                 pool=opts.question_pool))
        return Plan(sessions)

    @staticmethod
    def edition(run_id: str, size: int, repeat: int) -> str:
        return f"edition {run_id}-{size}-{repeat}"

    def comparison(self, df: pd.DataFrame, plan: Plan | None = None) -> dict:
        table = per_size(df, self.name)
        out: dict = {}
        for variant in ("cold", "hit"):
            fit = fit_slope(table[table["variant"] == variant])
            out[f"{variant}_slope_ms_per_1k_tokens"] = fit[0] if fit else None
            out[f"{variant}_intercept_ms"] = fit[1] if fit else None
        cold, hit = out["cold_slope_ms_per_1k_tokens"], out["hit_slope_ms_per_1k_tokens"]
        # The hit slope as a share of the cold slope: 0.01 means a hit pays 1% of what a cold call pays per extra token.
        out["hit_over_cold_slope"] = round(hit / cold, 4) if cold and hit is not None else None
        out["sizes"] = [size_row(size, g) for size, g in table.groupby("size")]
        return out

    def summary_lines(self, comparison: dict) -> list[str]:
        cold, hit = comparison.get("cold_slope_ms_per_1k_tokens"), comparison.get("hit_slope_ms_per_1k_tokens")
        if cold is None or hit is None:
            return ["too few sizes to fit a slope (at least two are needed)"]
        return [
            f"TTFT slope, cold: [bold]{cold:.0f} ms per 1k prompt tokens[/]; hit: [bold]{hit:.1f} ms per 1k[/] "
            f"(the hit slope is {comparison['hit_over_cold_slope']:.1%} of the cold slope)"
        ]

    def check(self, comparison: dict, expect: float | None) -> str | None:
        share = comparison.get("hit_over_cold_slope")
        if expect is None:
            return None
        if share is None:
            return "too few sizes with cold and hit calls to fit both slopes"
        if share > 1 - expect:
            return f"the hit TTFT slope is {share:.1%} of the cold slope, expected at most {1 - expect:.0%}"
        return None
