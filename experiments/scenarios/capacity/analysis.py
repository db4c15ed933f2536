"""The capacity scenario's reading of its rows: per step hit rate and TTFT, the working set each
configuration keeps hot, and the pass marks (pure pandas)."""

import pandas as pd

CONFIGS = ("vllm_only", "lmcache_memory", "lmcache_disk")
KEEP, LOSE, TOLERANCE = 0.90, 0.50, 0.25


def hit_share(rows: pd.DataFrame) -> pd.Series:
    """Per call: cached tokens over the tokens a cache can serve, capped at 1."""
    reusable = rows["reusable_tokens"].where(rows["reusable_tokens"] > 0)
    return (rows["cached_tokens"] / reusable).clip(upper=1).fillna(0)


def per_step(rows: pd.DataFrame, all_rows: pd.DataFrame) -> list[dict]:
    """Per (configuration, W, pattern): hit rate, TTFT p50/p95 over the rotation passes, where the
    cached tokens came from, and LMCache's usage and evictions over the step."""
    if rows.empty:
        return []
    rows = rows.assign(share=hit_share(rows))
    out = []
    for (config, w, pattern), g in rows.groupby(["tier", "working_set_manuals", "access_pattern"], sort=True):
        step = all_rows[(all_rows["tier"] == config) & (all_rows["working_set_manuals"] == w)]
        prompt = g["prompt_tokens"].sum()
        row = {
            "config": config, "working_set_manuals": int(w), "working_set_tokens": int(g["working_set_tokens"].median()),
            "pattern": pattern, "calls": int(len(g)), "hit_rate": round(float(g["share"].mean()), 4),
            "ttft_p50_ms": round(float(g["ttft_ms"].median()), 1), "ttft_p95_ms": round(float(g["ttft_ms"].quantile(0.95)), 1),
            "from_vllm": _share(g, "device_hit_tokens", prompt), "from_lmcache_l1": _share(g, "lmcache_l1_hit_tokens", prompt),
            "from_lmcache_disk": _share(g, "lmcache_l2_hit_tokens", prompt),
        }  # fmt: skip
        for col in ("lmcache_l1_usage_bytes", "lmcache_l2_usage_bytes"):
            row[col] = _last(step, col)
        for col in ("lmcache_l1_evicted_chunks", "lmcache_l2_evicted_chunks"):
            first, last = _first(step, col), _last(step, col)
            row[col.replace("_chunks", "_in_step")] = None if first is None or last is None else int(last - first)
        out.append(row)
    order = {c: i for i, c in enumerate(CONFIGS)}
    return sorted(out, key=lambda r: (order.get(r["config"], 9), r["pattern"], r["working_set_manuals"]))


def _share(g: pd.DataFrame, col: str, prompt: float):
    if col not in g or g[col].isna().all() or not prompt:
        return None
    return round(float(g[col].fillna(0).sum() / prompt), 4)


def _first(g: pd.DataFrame, col: str):
    v = g[col].dropna() if col in g else pd.Series(dtype=float)
    return None if v.empty else float(v.iloc[0])


def _last(g: pd.DataFrame, col: str):
    v = g[col].dropna() if col in g else pd.Series(dtype=float)
    return None if v.empty else float(v.iloc[-1])


def kept_table(steps: list[dict], predicted: dict) -> list[dict]:
    """Per configuration (round robin): the largest working set still at >= 90% before the first
    size below it, against the predicted crossing."""
    out = []
    for config in dict.fromkeys(s["config"] for s in steps):
        rr = [s for s in steps if s["config"] == config and s["pattern"] == "round_robin"]
        kept = lost = None
        for s in rr:
            if s["hit_rate"] >= KEEP and lost is None:
                kept = s
            elif s["hit_rate"] < KEEP and lost is None:
                lost = s
        pred = (predicted.get(config) or {}).get("manuals")
        within = None
        if pred and kept and lost:
            # The measured crossing lies between the last size kept and the first lost; the prediction
            # passes when it is within 25% of that interval.
            within = kept["working_set_manuals"] * (1 - TOLERANCE) <= pred <= lost["working_set_manuals"] * (1 + TOLERANCE)
        out.append({"config": config, "kept_manuals": kept["working_set_manuals"] if kept else 0,
                    "kept_tokens": kept["working_set_tokens"] if kept else 0,
                    "lost_manuals": lost["working_set_manuals"] if lost else None,
                    "predicted_manuals": pred, "within_tolerance": within})  # fmt: skip
    return out


def checks(steps: list[dict], kept: list[dict], capacity: dict) -> list[dict]:
    """The issue's pass marks, each with its failure line (None: passed, or not measured in this run)."""
    held = capacity.get("held", {})
    rr = {(s["config"], s["working_set_manuals"]): s["hit_rate"] for s in steps if s["pattern"] == "round_robin"}
    out = []

    def add(name: str, failure: str | None) -> None:
        out.append({"check": name, "failure": failure})

    if "vllm_kv" in held and any(c == "vllm_only" for c, _ in rr):
        past = {w: h for (c, w), h in rr.items() if c == "vllm_only" and w >= 2 * held["vllm_kv"]}
        bad = {w: h for w, h in past.items() if h >= LOSE}
        add("vllm_only below 50% at 2x its KV memory",
            "no working set of 2x vLLM's KV memory was measured" if not past
            else f"vllm_only kept {max(bad.values()):.0%} at W={min(bad)}, 2x past its KV memory" if bad else None)  # fmt: skip
    for config, limit_tier, lower in (("lmcache_memory", "lmcache_l1", 0), ("lmcache_disk", "lmcache_disk", held.get("lmcache_l1", 0))):
        if limit_tier not in held or not any(c == config for c, _ in rr):
            continue
        inside = {w: h for (c, w), h in rr.items() if c == config and lower < w <= held[limit_tier]}
        bad = {w: h for w, h in inside.items() if h < KEEP}
        where = "up to its capacity" if not lower else "beyond the memory tier"
        add(f"{config} at >= 90% {where}",
            f"{config}: no working set {where} was measured" if not inside
            else f"{config} fell to {min(bad.values()):.0%} at W={min(bad)}, {where}" if bad else None)  # fmt: skip
    for k in kept:
        if k["within_tolerance"] is False:
            add(f"{k['config']} predicted crossing", f"{k['config']}: predicted {k['predicted_manuals']} manuals, measured "
                f"between {k['kept_manuals']} and {k['lost_manuals']} (more than 25% off)")  # fmt: skip
    return out
