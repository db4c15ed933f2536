"""Figures from results.csv: per scenario and variant medians and hit rates (pure pandas)."""

import pandas as pd

from metrics.records import CallRecord, summary_fields


def variant_table(df: pd.DataFrame, record_type: type = CallRecord) -> pd.DataFrame:
    """One row per (scenario, variant): calls, TTFT median and p90, mean and minimum hit rates,
    then every call-record field marked for the summary, aggregated as its metadata says."""
    grouped = df.groupby(["scenario", "variant"], sort=False)
    derived = {name: (name, how) for name, how in summary_fields(record_type).items() if name in df.columns}
    table = grouped.agg(
        calls=("ttft_ms", "size"),
        ttft_median_ms=("ttft_ms", "median"),
        ttft_p90_ms=("ttft_ms", lambda s: s.quantile(0.9)),
        hit_rate_mean=("hit_rate", "mean"),
        hit_rate_min=("hit_rate", "min"),
        **derived,
    )
    return table.round(4).reset_index()


def _median_ratio(df: pd.DataFrame, scenario: str, num: str, den: str) -> float | None:
    rows = df[df["scenario"] == scenario]
    num_ms = rows.loc[rows["variant"] == num, "ttft_ms"].median()
    den_ms = rows.loc[rows["variant"] == den, "ttft_ms"].median()
    if pd.isna(num_ms) or pd.isna(den_ms) or den_ms == 0:
        return None
    return num_ms / den_ms


def median_ratio(df: pd.DataFrame, scenario: str, num: str, den: str) -> float | None:
    """Median TTFT of ``num`` / median TTFT of ``den``: 1.03 means ``num`` takes 3% longer."""
    ratio = _median_ratio(df, scenario, num, den)
    return None if ratio is None else round(ratio, 4)


def reduction(df: pd.DataFrame, scenario: str, base: str, other: str) -> float | None:
    """1 - median TTFT of ``other`` / median TTFT of ``base``: 0.95 means a 95% cut."""
    ratio = _median_ratio(df, scenario, other, base)
    return None if ratio is None else round(1 - ratio, 4)


def variants_as_dict(table: pd.DataFrame, scenario: str) -> dict:
    rows = table[table["scenario"] == scenario].drop(columns="scenario")
    return {r["variant"]: {k: v for k, v in r.items() if k != "variant"} for r in rows.to_dict("records")}
