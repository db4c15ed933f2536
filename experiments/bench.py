"""``python -m experiments.bench [SCENARIO ...]``: the benchmark runs behind the figures in the README.

Each scenario runs at full size through ``run_graph`` (its own pass mark applies) into
``runs/bench-<time>/<scenario>``; ``bench.json`` there collects every scenario's summary figures and
exit code. Run it on a quiet machine: the figures are timings.
"""

import json
import sys
import time
from pathlib import Path

from experiments import run_graph

# Full-size arguments per scenario (the issues' benchmark sizes).
BENCH_ARGS = {
    "cold_hit": [],
    "layouts": ["--questions", "5", "--manual-tokens", "4400"],
    "tiers": [],
    "equivalence": [],
    "sharing": [],
    "sweep": [],
    "overhead": ["--repeats", "6"],
    "load": ["--concurrency", "8", "--questions", "20", "--repeats", "1"],
}


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(BENCH_ARGS)
    unknown = [n for n in names if n not in BENCH_ARGS]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCH_ARGS)}", file=sys.stderr)
        return 2
    root = Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    results = {}
    for name in names:
        out = root / name
        print(f"== benchmark {name} -> {out}", flush=True)
        code = run_graph.main(["--scenario", name, "--out", str(out), *BENCH_ARGS[name]])
        summary = out / "summary.json"
        figures = json.loads(summary.read_text())["scenarios"][name] if summary.exists() else None
        results[name] = {"exit_code": code, "summary": figures}
        if code == 130:
            break
    (root / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {root / 'bench.json'}")
    return max((r["exit_code"] for r in results.values()), default=0)


if __name__ == "__main__":
    sys.exit(main())
