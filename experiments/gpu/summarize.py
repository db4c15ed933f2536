"""``python -m experiments.gpu.summarize RESULTS MODEL_DIR``: the GPU run's figures in one table and one JSON.

Reads the run folders that ``run_gpu.sh`` wrote (``cold_hit-<tokens>`` on the profile's defaults,
``cold_hit_lmcache-<tokens>`` eager with vLLM's cache off, ``tiers-<tokens>``, ``hit_accounting``,
and, in the H100 runs, ``overhead-<tokens>``), ``startup.tsv``, ``pcie.json`` and the served model's
``config.json``, and writes ``RESULTS/gpu_results.json`` and ``RESULTS/README.md``:
- cold vs hit TTFT per manual size, for each stack configuration, with the cut;
- which tier served the hit, and the hit TTFT over its floor (suffix-only TTFT + KV bytes /
  host-to-GPU bandwidth);
- start-up time per stack configuration; the hit accounting per size and stack;
- harness TTFT over a bare streaming client on the same server, where an overhead run exists.
"""

import json
import sys
from pathlib import Path

from experiments.gpu.dummy_model import kv_bytes_per_token
from experiments.run.results import load_results
from lab.cli import command
from lab.errors import UserError


def _summary(folder: Path) -> dict | None:
    path = folder / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _tokens(folder: Path) -> int:
    """The manual's size, from the run's own rows (its ``manual_tokens`` column); a run folder older
    than that column is named after its size (``cold_hit-<tokens>``)."""
    if (folder / "results.csv").is_file():
        sizes = load_results(folder)["manual_tokens"].dropna()
        if len(sizes):
            return int(sizes.median())
    return int(folder.name.rsplit("-", 1)[-1])


def _cold_hit_rows(results: Path, scenario: str) -> list[dict]:
    rows = []
    for folder in sorted(results.glob(f"{scenario}-*"), key=_tokens):
        s = _summary(folder)
        if not s:
            continue
        v, c = s["scenarios"][scenario]["variants"], s["scenarios"][scenario]["comparison"]
        stack = (s.get("config") or {}).get("stack") or {}
        rows.append({
            "manual_tokens": _tokens(folder), "prompt_tokens": v["hit"]["prompt_tokens"],
            "cold_ttft_ms": c["cold_ttft_median_ms"], "hit_ttft_ms": c["hit_ttft_median_ms"],
            "ttft_cut": c["ttft_reduction"], "hit_rate_min": c["hit_rate_min_on_hits"],
            "lmcache_hit_rate": v["hit"]["lmcache_hit_rate"], "device_hit_rate": v["hit"].get("device_hit_rate"),
            "calls": v["cold"]["calls"] + v["hit"]["calls"], "versions": s["versions"],
            "prefix_caching": stack.get("prefix_caching"), "enforce_eager": stack.get("enforce_eager"),
        })  # fmt: skip
    return rows


def _startup(results: Path) -> list[dict]:
    path = results / "startup.tsv"
    if not path.is_file():
        return []
    rows = [line.rsplit(" ", 1) for line in path.read_text().splitlines() if line.strip()]
    return [{"stack": label, "seconds": float(sec)} for label, sec in rows]


def collect(results: Path, model_config: dict) -> dict:
    kv_per_token = kv_bytes_per_token(model_config)
    pcie = json.loads((results / "pcie.json").read_text())
    bandwidth = pcie["host_to_device_gb_per_s"] * 1e9
    out: dict = {"kv_bytes_per_token": kv_per_token, "pcie": pcie, "tiers": None, "overhead": None,
                 "cold_hit": _cold_hit_rows(results, "cold_hit"), "cold_hit_lmcache": _cold_hit_rows(results, "cold_hit_lmcache"),
                 "startup": _startup(results)}  # fmt: skip
    accounting = results / "hit_accounting" / "accounting.json"
    out["accounting"] = json.loads(accounting.read_text()) if accounting.is_file() else None

    overhead = next((f for f in results.glob("overhead-*") if _summary(f)), None)
    suffix_ms = None
    if overhead:
        s = _summary(overhead)
        c, v = s["scenarios"]["overhead"]["comparison"], s["scenarios"]["overhead"]["variants"]
        suffix_ms = c["suffix_only_ttft_median_ms"]
        cached = v["graph_hit"]["cached_tokens"]
        floor = suffix_ms + cached * kv_per_token / bandwidth * 1000
        out["overhead"] = {
            "manual_tokens": _tokens(overhead), **c, "hit_cached_tokens": cached,
            "kv_bytes_moved": cached * kv_per_token, "floor_ms": round(floor, 1),
            "graph_hit_over_floor": round(c["graph_hit_ttft_median_ms"] / floor, 3),
        }  # fmt: skip

    breakdown = results / "breakdown.json"
    out["breakdown"] = json.loads(breakdown.read_text()) if breakdown.is_file() else None

    if suffix_ms is None and out["accounting"] and out["accounting"]["sizes"]:
        # No overhead run: the suffix-only TTFT of the largest size's accounting (medians over its stacks).
        largest = max(out["accounting"]["sizes"], key=int)
        fixed = [x["fixed"] for x in out["accounting"]["sizes"][largest]["stacks"].values()]
        suffix_ms = sorted(fixed)[len(fixed) // 2]

    tiers = next((f for f in results.glob("tiers-*") if _summary(f)), None)
    if tiers:
        s = _summary(tiers)
        c = s["scenarios"]["tiers"]["comparison"]
        rows = {"recompute (cold)": {"ttft_ms": c["cold_ttft_median_ms"], "vs_cold": 1.0}}
        for tier, label in (("vllm_cache", "vLLM GPU prefix cache"), ("lmcache_l1", "LMCache CPU tier (vLLM cache reset)")):
            if tier in c:
                t = c[tier]
                rows[label] = {"ttft_ms": t["ttft_median_ms"], "vs_cold": t["ttft_vs_cold"],
                               "device_hit_tokens": t["device_hit_tokens"], "lmcache_hit_tokens": t["lmcache_hit_tokens"]}  # fmt: skip
        cached = max((r.get("lmcache_hit_tokens") or 0) for r in rows.values())
        if suffix_ms is not None and cached:
            floor = suffix_ms + cached * kv_per_token / bandwidth * 1000
            for label, r in rows.items():
                if not label.startswith("recompute"):  # the floor is a hit's
                    r["over_floor"] = round(r["ttft_ms"] / floor, 3)
            out["tiers_floor_ms"] = round(floor, 1)
        out["tiers"] = {"manual_tokens": _tokens(tiers), "rows": rows, "vllm_reset_verified": c.get("vllm_reset_verified")}
    return out


def _ms(v) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def _pct(v) -> str:
    return "-" if v is None else f"{v:.1%}"


def _stack_title(rows: list[dict]) -> str:
    r = rows[0]
    if r.get("prefix_caching") is None:  # runs before the summaries recorded the stack (the first H100 run)
        return "LMCache CPU tier, vLLM prefix cache off"
    graphs = "eager" if r["enforce_eager"] else "CUDA graphs"
    cache = "vLLM prefix cache on, LMCache behind it" if r["prefix_caching"] else "vLLM prefix cache off: every hit from LMCache's CPU tier"
    return f"{graphs}, {cache}"


def _cold_hit_table(title: str, rows: list[dict]) -> list[str]:
    lines = ["", f"## Cold vs hit through the graph ({title})", "",
             "| manual tokens | prompt tokens | cold TTFT | hit TTFT | TTFT cut | hit rate (min) | served by vLLM / LMCache | calls |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        served = "-" if r.get("device_hit_rate") is None else f"{_pct(r['device_hit_rate'])} / {_pct(r['lmcache_hit_rate'])}"
        lines.append(f"| {r['manual_tokens']:,} | {r['prompt_tokens']:,.0f} | {_ms(r['cold_ttft_ms'])} | {_ms(r['hit_ttft_ms'])} | "
                     f"{_pct(r['ttft_cut'])} | {_pct(r['hit_rate_min'])} | {served} | {r['calls']} |")  # fmt: skip
    return lines


def _accounting_table(acc: dict) -> list[str]:
    lines = ["", "## Where an LMCache hit's TTFT goes (hit_accounting, bare client, medians per stack)", "",
             ("fixed = suffix-only TTFT; compute = vLLM-cache hit - fixed; KV load = LMCache's own retrieve time for "
             f"that request, from its log; rest = hit - the three (adds up: |rest| ≤ {acc['adds_up_within']:.0%} of the hit)."), "",
             "| manual tokens | stack | LMCache hit | fixed | compute | KV load | rest | rest share | adds up | cold |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for size, per in sorted(acc["sizes"].items(), key=lambda kv: int(kv[0])):
        for s, x in sorted(per["stacks"].items()):
            lines.append(f"| {int(size):,} | {s} | {_ms(x['hit_ms'])} | {_ms(x['fixed'])} | {_ms(x['compute'])} | {_ms(x['kv_load'])} | "
                         f"{_ms(x['rest'])} | {x['rest_share']:+.1%} | {'yes' if x['adds_up'] else 'no'} | {_ms(x['cold_ms'])} |")  # fmt: skip
        if per.get("hit_spread") is not None:
            parts = ", ".join(f"{p} {_pct(v)}" for p, v in per["part_spread"].items())
            lines.append(f"| {int(size):,} | spread | {_pct(per['hit_spread'])} | | | | | ({parts}) | | |")
    if acc.get("startup_s"):
        lines.append("\nRestarts inside the scenario took " + ", ".join(f"{v:.0f} s (stack {k})" for k, v in acc["startup_s"].items()) + ".")
    return lines


def render(fig: dict) -> str:
    lines = ["# GPU profile results", ""]
    first = fig["cold_hit"] or fig.get("cold_hit_lmcache") or []
    if first:
        vs = first[0]["versions"]
        lines += [f"Card: {fig['pcie']['device']}. Versions: " + ", ".join(f"{k} {v}" for k, v in vs.items()) + ".",
                  (f"Host-to-GPU copy: {fig['pcie']['host_to_device_gb_per_s']} GB/s (pinned, 1 GiB copies, median of 10). "
                  f"KV per token: {fig['kv_bytes_per_token'] // 1024} KiB (Llama-3.1-8B shape, bf16).")]  # fmt: skip
    if fig.get("startup"):
        lines += ["", "## Start-up (`python -m serving up` until vLLM answers)", "", "| stack | seconds |", "|---|---|"]
        lines += [f"| {r['stack']} | {r['seconds']:.0f} |" for r in fig["startup"]]
    for rows in (fig["cold_hit"], fig.get("cold_hit_lmcache") or []):
        if rows:
            lines += _cold_hit_table(_stack_title(rows), rows)
    if fig.get("accounting") and fig["accounting"]["sizes"]:
        lines += _accounting_table(fig["accounting"])
    if fig["tiers"]:
        t = fig["tiers"]
        lines += ["", f"## Which tier served the hit ({t['manual_tokens']:,}-token manual)", "",
                  "| source | TTFT | vs cold | TTFT cut | over floor |", "|---|---|---|---|---|"]  # fmt: skip
        for label, r in t["rows"].items():
            cut = None if label.startswith("recompute") else 1 - r["vs_cold"]
            lines.append(f"| {label} | {_ms(r['ttft_ms'])} | {r['vs_cold']:.3f} | {_pct(cut)} | {r.get('over_floor', '-')} |")
        lines.append(f"\nvLLM's cache was emptied before the LMCache row, checked on /metrics: {t['vllm_reset_verified']}.")
    if fig["overhead"]:
        o = fig["overhead"]
        lines += ["", f"## Harness overhead and the hit floor ({o['manual_tokens']:,}-token manual)", "",
                  "| figure | value | goal |", "|---|---|---|",
                  f"| harness / bare client, cold (medians) | {o['harness_over_bare_cold']} | ≤ 1.05 |",
                  f"| harness / bare client, hit (medians) | {o['harness_over_bare_hit']} | ≤ 1.05 |",
                  f"| suffix-only TTFT | {_ms(o['suffix_only_ttft_median_ms'])} | |",
                  f"| floor = suffix-only + {o['kv_bytes_moved'] / 1e9:.2f} GB / {fig['pcie']['host_to_device_gb_per_s']} GB/s | {_ms(o['floor_ms'])} | |",
                  f"| graph hit TTFT / floor | {o['graph_hit_over_floor']} | ≤ 1.3 |"]  # fmt: skip
    if b := fig.get("breakdown"):
        lines += ["", (f"Rendering and tokenizing the prompt on the server (`/tokenize`, median of 7), which every request pays "
                      f"and the suffix-only floor does not: {b['tokenize_full_ms']:.0f} ms for the whole {b['full_prompt_tokens']:,}-token "
                      f"chat, {b['tokenize_suffix_ms']:.0f} ms for the question alone.")]  # fmt: skip
    return "\n".join(lines) + "\n"


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise UserError("usage: python -m experiments.gpu.summarize RESULTS MODEL_DIR")
    results, model_dir = Path(argv[0]), Path(argv[1])
    for needed in (results / "pcie.json", model_dir / "config.json"):
        if not needed.is_file():
            raise UserError(f"{needed} is missing; RESULTS is the folder experiments/gpu/run_gpu.sh wrote, "
                            "MODEL_DIR the served model's folder")  # fmt: skip
    fig = collect(results, json.loads((model_dir / "config.json").read_text()))
    (results / "gpu_results.json").write_text(json.dumps(fig, indent=2, default=str) + "\n")
    (results / "README.md").write_text(render(fig))
    print(render(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
