"""``python -m experiments.bench [SCENARIO ...]``: the benchmark runs behind the figures in the README.

Each scenario with ``bench_args`` on its registry entry runs at full size (its own pass mark applies) into ``runs/bench-<time>/<scenario>``;
``bench.json`` there collects every scenario's summary figures and exit code. Run it on a quiet
machine: the figures are timings.
"""

import json
import sys
import time
from pathlib import Path

from experiments.run.experiment import run_experiment
from experiments.run.spec import RunSpec
from experiments.run_graph import console, print_summary
from experiments.scenarios import SCENARIOS
from lab.cli import command
from lab.errors import UserError


def benchmarks() -> dict[str, dict]:
    """Each benchmarked scenario's full-size arguments (RunArgs fields), in registry order."""
    return {name: s.bench_args for name, s in SCENARIOS.items() if s.bench_args is not None}


@command
def main(argv: list[str] | None = None) -> int:
    bench_args = benchmarks()
    names = (argv if argv is not None else sys.argv[1:]) or list(bench_args)
    unknown = [n for n in names if n not in bench_args]
    if unknown:
        raise UserError(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(bench_args)}")
    root = Path("runs") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    results = {}
    try:
        for name in names:
            out = root / name
            print(f"== benchmark {name} -> {out}", flush=True)
            try:
                result = run_experiment(RunSpec.build(scenario=name, out=out, **bench_args[name]), console)
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
