"""``python -m experiments.report RUN_DIR``: (re)build a run folder's charts and ``report.md``.

Everything comes from the folder's ``results.csv`` and ``summary.json``, so a past run can be
redrawn without running it again (``experiments.analysis.report``, which every run calls at its end).
"""

import sys
from pathlib import Path

from experiments.analysis.report import write_report
from lab.cli import ArgumentParser, command


@command
def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="a run folder written by python -m experiments.run_graph")
    args = p.parse_args(argv)
    path = write_report(args.run_dir)
    print(f"wrote {path} and its charts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
