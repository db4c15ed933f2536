"""How many answers were correct, per variant, and whether cold and hit answers to the same question
got the same verdict (pure pandas over results.csv's ``correct`` column; rule: ``metrics.correctness``)."""

import pandas as pd

RULE = ("correct = the answer contains the expected answer, both lower-cased, with punctuation dropped "
        "and whitespace collapsed")  # fmt: skip


def correctness(df: pd.DataFrame) -> dict | None:
    """Per variant the scored answers, the correct ones and their share; with cold and hit variants,
    the questions asked both ways and those whose verdicts differ. None when no answer was scored."""
    if "correct" not in df.columns:
        return None
    scored = df[pd.to_numeric(df["correct"], errors="coerce").notna()].copy()
    if scored.empty:
        return None
    scored["correct"] = pd.to_numeric(scored["correct"])
    variants = {
        str(v): {"answers": int(len(g)), "correct": int(g["correct"].sum()), "share": round(float(g["correct"].mean()), 4)}
        for v, g in scored.groupby("variant", sort=False)
    }  # fmt: skip
    out = {"rule": RULE, "variants": variants}
    if {"cold", "hit"} <= set(variants):
        per_question = scored[scored["variant"].isin(["cold", "hit"])].pivot_table(
            index="question", columns="variant", values="correct", aggfunc="mean").dropna()  # fmt: skip
        differ = per_question[per_question["cold"] != per_question["hit"]]
        out["cold_vs_hit"] = {"questions": int(len(per_question)), "differ": sorted(differ.index.astype(str))}
    return out


def correctness_lines(figures: dict | None) -> list[str]:
    """The correctness figures in words, for the screen and report.md; none when nothing was scored."""
    if not figures:
        return []
    shares = ", ".join(f"{v} {f['correct']}/{f['answers']} ({f['share']:.0%})" for v, f in figures["variants"].items())
    lines = [f"correct answers: {shares} ({figures['rule']})"]
    if (both := figures.get("cold_vs_hit")) is not None:
        differ = both["differ"]
        lines.append(f"cold vs hit: of {both['questions']} questions asked both ways, {len(differ)} got a different verdict"
                     + (f" ({'; '.join(q[:60] for q in differ)}): a cache hit must not change answers beyond the near-ties "
                        "vLLM's own prefix cache shows" if differ else ""))  # fmt: skip
    return lines
