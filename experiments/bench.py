"""``python -m experiments.bench [SCENARIO ...]``: the benchmark runs behind the figures in the README.

Each scenario runs at full size (its own pass mark applies) into ``runs/bench-<time>/<scenario>``;
``bench.json`` there collects every scenario's summary figures and exit code. Run it on a quiet
machine: the figures are timings.
"""

import json
import sys
import time
from pathlib import Path

from experiments.experiment import run_experiment
from experiments.run_graph import console, print_summary
from experiments.spec import RunSpec
from lab.cli import command
from lab.errors import UserError

# Full-size arguments per scenario (the issues' benchmark sizes), as RunArgs fields.
BENCH_ARGS: dict[str, dict] = {
    "cold_hit": {},
    "layouts": {"questions": 5, "manual_tokens": 4400},
    "tiers": {},
    "equivalence": {},
    "sharing": {},
    "sweep": {},
    "overhead": {"repeats": 6},
    "load": {"concurrency": 8, "questions": 20, "repeats": 1},
    "fleet": {"questions": 5, "repeats": 2},
    "agent": {},
    # W swept past every tier (sizes from the capacity model), 2 rotation passes, round robin and Zipf-like.
    "capacity": {"repeats": 2},
}


@command
def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(BENCH_ARGS)
    unknown = [n for n in names if n not in BENCH_ARGS]
    if unknown:
        raise UserError(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCH_ARGS)}")
    root = Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    results = {}
    try:
        for name in names:
            out = root / name
            print(f"== benchmark {name} -> {out}", flush=True)
            try:
                result = run_experiment(RunSpec.build(scenario=name, out=out, **BENCH_ARGS[name]), console)
            except UserError as err:  # this scenario could not run: say so, go on with the next
                print(f"error: {err}", file=sys.stderr)
                results[name] = {"exit_code": err.exit_code, "summary": None}
                continue
            print_summary(result)
            results[name] = {"exit_code": result.exit_code, "summary": result.summary["scenarios"][name]}
    finally:
        root.mkdir(parents=True, exist_ok=True)
        (root / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {root / 'bench.json'}")
    return max((r["exit_code"] for r in results.values()), default=0)


if __name__ == "__main__":
    sys.exit(main())
