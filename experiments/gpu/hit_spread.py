"""``python -m experiments.gpu.hit_spread RESULTS_DIR``: why one GPU run's ``cold_hit`` hits differ from another's.

From a ``run_gpu.sh`` results folder (``cold_hit-<tokens>/results.csv`` and ``vllm-gpu.log``), per size:

- the hits' median and range, the first hit after the cold call against the later ones;
- GPU-only work: the decode after the first token (total - TTFT) of the hits;
- host-only work: the gap between one call's end and the next call's start (the client's work and
  its /tokenize and /metrics calls between two calls);
- from LMCache's log: when the cold call's last ``Stored`` line came, against the cold call's first
  token and the first hit's start (a store still running would overlap the first hit).

docs/gpu.md quotes these figures for the H200 runs (issue 17).
"""

import csv
import json
import re
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

STORED = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\][^\n]*\bStored \d+ out of")


def store_times(log: Path) -> list[float]:
    """Epoch seconds of LMCache's ``Stored`` lines (its log stamps UTC, as the lent machines run)."""
    if not log.is_file():
        return []
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    return [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=timezone.utc).timestamp()
            for m in STORED.finditer(text)]  # fmt: skip


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def size_figures(rows: list[dict], stores: list[float]) -> dict:
    """The figures of one cold_hit run's rows (in call order)."""
    hits = [r for r in rows if r["variant"] == "hit"]
    ttft = [float(r["ttft_ms"]) for r in hits]
    gaps = [(float(b["started_at"]) - float(a["started_at"]) - float(a["total_ms"]) / 1000) * 1000
            for a, b in zip(rows, rows[1:]) if a["repeat"] == b["repeat"]]  # fmt: skip
    after_store = []
    for repeat in sorted({r["repeat"] for r in rows}):
        calls = [r for r in rows if r["repeat"] == repeat]
        cold, nxt = calls[0], calls[1] if len(calls) > 1 else None
        start = float(cold["started_at"])
        first_token = start + float(cold["ttft_ms"]) / 1000
        end = float(nxt["started_at"]) if nxt else first_token + 60
        last = max((t for t in stores if start <= t <= end), default=None)
        if last is not None:
            after_store.append({"last_store_vs_cold_first_token_ms": round((last - first_token) * 1000, 1),
                                "first_hit_after_last_store_ms": round((end - last) * 1000, 1) if nxt else None})  # fmt: skip
    return {
        "hits": len(ttft),
        "hit_median_ms": median(ttft),
        "hit_range_ms": [min(ttft), max(ttft)] if ttft else None,
        "first_hit_median_ms": median([float(r["ttft_ms"]) for r in hits if r["question_id"] == "1"]),
        "later_hits_median_ms": median([float(r["ttft_ms"]) for r in hits if r["question_id"] != "1"]),
        "cold_median_ms": median([float(r["ttft_ms"]) for r in rows if r["variant"] == "cold"]),
        "hit_decode_median_ms": median([float(r["total_ms"]) - float(r["ttft_ms"]) for r in hits]),
        "between_calls_median_ms": median(gaps),
        "stores": after_store,
    }


def collect(folder: Path) -> dict:
    stores = store_times(folder / "vllm-gpu.log")
    figures = {}
    for csv_path in sorted(folder.glob("cold_hit-*/results.csv"), key=lambda p: int(p.parent.name.split("-")[1])):
        with open(csv_path, newline="") as f:
            rows = sorted(csv.DictReader(f), key=lambda r: float(r["started_at"]))
        figures[csv_path.parent.name.split("-")[1]] = size_figures(rows, stores)
    return figures


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m experiments.gpu.hit_spread RESULTS_DIR", file=sys.stderr)
        return 2
    print(json.dumps(collect(Path(argv[0])), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
