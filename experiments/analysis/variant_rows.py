"""Which calls stand for a variant when two variants or two runs are compared, and which variant
of a run is its baseline (pure pandas; used by ``experiments.compare`` and by the LangFuse
experiment runs, so both show the same figures)."""

import pandas as pd



def compared_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The calls compared per variant: all of them, except the first question of every session
    whose calls all belong to one variant (a layout, a tier, a manual size): there it is a cold
    start, whatever the variant."""
    per_session = rows.groupby("session")["variant"].agg(["nunique", "size"])
    whole = per_session.index[(per_session["nunique"] == 1) & (per_session["size"] > 1)]
    first = rows["question_id"] == rows.groupby("session")["question_id"].transform("min")
    return rows[~(rows["session"].isin(whole) & first)]


def baseline_among(wanted: str | None, variants: list[str]) -> str | None:
    """``wanted`` (a scenario's ``baseline``) if the run has it, else the run's first variant."""
    if wanted in variants:
        return wanted
    return variants[0] if variants else None


def variant_figures(rows: pd.DataFrame) -> dict:
    """Median and p90 TTFT, mean hit rate, median cached tokens and the share of correct answers
    (None where no question had an expected answer) of one variant's compared calls."""

    def present(col):
        return col in rows and rows[col].notna().any()

    return {
        "calls": int(len(rows)),
        "ttft_median_ms": float(rows["ttft_ms"].median()),
        "ttft_p90_ms": float(rows["ttft_ms"].quantile(0.9)),
        "hit_rate": float(rows["hit_rate"].mean()) if present("hit_rate") else None,
        "cached_tokens": float(rows["cached_tokens"].median()) if present("cached_tokens") else None,
        "correct": float(pd.to_numeric(rows["correct"]).mean()) if present("correct") else None,
    }
