"""``python -m experiments.accounting_report RUN_DIR``: the hit accounting again, from a run folder's
``results.csv`` (or the first H200 run's ``accounting-calls.csv``) and ``lmcache-requests.log``
(``experiments.scenarios.hit_accounting.report``).
"""

import json
import sys
from pathlib import Path

import pandas as pd

from experiments.scenarios.hit_accounting.report import LOG_COPY, OLD_CALLS_CSV, analyse, calls_table
from lab.cli import command
from lab.errors import UserError


@command
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if len(argv) == 1 else None
    if (
        out is None
        or not (out / LOG_COPY).is_file()
        or not ((out / "results.csv").is_file() or (out / OLD_CALLS_CSV).is_file())
    ):
        raise UserError(f"give one hit_accounting run folder (it holds results.csv and {LOG_COPY})")
    previous = json.loads((out / "accounting.json").read_text()) if (out / "accounting.json").is_file() else {}
    startups = {int(k): v for k, v in previous.get("startup_s", {}).items()}
    if (out / OLD_CALLS_CSV).is_file():
        calls = pd.read_csv(out / OLD_CALLS_CSV)
    else:
        rows = pd.read_csv(out / "results.csv")
        calls = calls_table(rows[rows["scenario"] == "hit_accounting"])
    figures = analyse(out, calls, (out / LOG_COPY).read_text().splitlines(), startups)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
