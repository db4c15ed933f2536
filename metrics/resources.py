"""What a running stack holds, sampled over time: each server's memory and open files (with its
child processes: vLLM's engine core and workers), the LMCache disk tier's size and /dev/shm usage."""

import csv
import shutil
import threading
import time
from pathlib import Path

import psutil

SHM = Path("/dev/shm")


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that are still alive."""
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def tree_usage(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open file descriptors) of a process tree; a process gone meanwhile counts 0."""
    rss, fds = 0, 0
    for p in process_tree(pid):
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
        except psutil.Error:
            pass
    return rss / 2**20, fds


def folder_mib(path: Path | None) -> float | None:
    """Bytes under ``path`` in MiB; None without a folder."""
    if path is None or not path.exists():
        return None
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def sample(servers: dict[str, int], disk: Path | None) -> dict:
    """One row: time, then ``<server>_rss_mib`` and ``<server>_fds`` per server (name -> pid),
    ``disk_mib`` and ``shm_used_mib``."""
    row: dict = {"t": round(time.time(), 2)}
    for name, pid in servers.items():
        row[f"{name}_rss_mib"], row[f"{name}_fds"] = tree_usage(pid)
        row[f"{name}_rss_mib"] = round(row[f"{name}_rss_mib"], 1)
    row["disk_mib"] = folder_mib(disk)
    row["shm_used_mib"] = round(shutil.disk_usage(SHM).used / 2**20, 1)
    return row


class Sampler:
    """Samples every ``interval_s`` on a background thread into ``path`` (CSV, flushed per row)."""

    def __init__(self, servers: dict[str, int], disk: Path | None, path: Path, interval_s: float = 5.0):
        self.servers, self.disk, self.path, self.interval_s = servers, disk, path, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)

    def _loop(self) -> None:
        with self.path.open("w", newline="") as f:
            writer = None
            while True:
                row = sample(self.servers, self.disk)
                writer = writer or csv.DictWriter(f, fieldnames=list(row))
                if f.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)
                f.flush()
                if self._stop.wait(self.interval_s):
                    return

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
