"""How many answers were correct, per variant, and whether cold answers and cached ones (hit, a tier)
to the same question got the same verdict (pure pandas over results.csv's ``correct`` column; the
rule: ``metrics.correctness``)."""

import pandas as pd

RULE = ("correct = the answer contains the expected answer, both lower-cased, with punctuation dropped "
        "and whitespace collapsed")  # fmt: skip


def correctness(df: pd.DataFrame) -> dict | None:
    """Per variant the scored answers, the correct ones and their share; with a ``cold`` variant, per
    other variant the questions it shares with cold and those whose verdicts differ (a cache hit must
    not change an answer's verdict beyond a near tie). None when no answer was scored."""
    if "correct" not in df.columns:
        return None
    scored = df[pd.to_numeric(df["correct"], errors="coerce").notna()].copy()
    if scored.empty:
        return None
    scored["correct"] = pd.to_numeric(scored["correct"])
    scored["variant"] = scored["variant"].astype(str)
    variants = {
        v: {"answers": int(len(g)), "correct": int(g["correct"].sum()), "share": round(float(g["correct"].mean()), 4)}
        for v, g in scored.groupby("variant", sort=False)
    }  # fmt: skip
    out = {"rule": RULE, "variants": variants}
    if "cold" in variants and len(variants) > 1:
        verdicts = scored.pivot_table(index="question", columns="variant", values="correct", aggfunc="mean")
        out["against_cold"] = {}
        for v in variants:
            if v == "cold":
                continue
            both = verdicts[["cold", v]].dropna()
            differ = both.index[both["cold"] != both[v]]
            out["against_cold"][v] = {"questions": int(len(both)), "differ": sorted(differ.astype(str))}
    return out


def correctness_lines(figures: dict | None) -> list[str]:
    """The correctness figures in words, for the screen and report.md; none when nothing was scored."""
    if not figures:
        return []
    shares = ", ".join(f"{v} {f['correct']}/{f['answers']} ({f['share']:.0%})" for v, f in figures["variants"].items())
    lines = [f"correct answers: {shares} ({figures['rule']})"]
    for v, both in (figures.get("against_cold") or {}).items():
        differ = both["differ"]
        detail = ""
        if differ:
            detail = f" ({'; '.join(q[:60] for q in differ)}): a cache hit must not change answers beyond a near tie"
        lines.append(f"{v} vs cold: of {both['questions']} questions asked both ways, "
                     f"{len(differ)} got a different verdict{detail}")  # fmt: skip
    return lines
