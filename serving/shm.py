"""Shared memory that servers leave in /dev/shm when they are killed or crash.

LMCache's L1 pool has a name of the stack's own (removed by name). Python's multiprocessing, which
vLLM uses between its API server, engine and workers, also creates segments (``psm_*``) and named
semaphores (``sem.mp-*``); a process that dies by SIGKILL never unlinks them, and nothing else will.
A file is only removed once no live process maps it or holds it open, so a running server of
another stack keeps what it uses.
"""

import os
from collections.abc import Iterable
from pathlib import Path

SHM = Path("/dev/shm")
PYTHON_SEGMENTS = ("psm_*", "sem.mp-*")


def references() -> dict[int, set[int]]:
    """The inode of every /dev/shm file that a live process maps or holds open, with those processes' PIDs.

    By inode, not by name: glibc's ``sem_open`` builds a semaphore under a temporary name, maps it,
    then links it to its real name, so a live semaphore shows in /proc/<pid>/maps under a name
    that no longer exists. Matching names would take every live named semaphore for a leftover and
    remove it under the process that is about to open it."""
    refs: dict[int, set[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        for inode in _held(pid):
            refs.setdefault(inode, set()).add(pid)
    return refs


def held_by(pids: Iterable[int]) -> set[Path]:
    """The /dev/shm files these processes map or hold open."""
    inodes = {inode for pid in pids for inode in _held(pid)}
    return {path for path in _files() if _inode(path) in inodes}


def _files() -> list[Path]:
    try:
        return list(SHM.iterdir())
    except OSError:
        return []


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _held(pid: int) -> set[int]:
    """Inodes of the /dev/shm files ``pid`` maps (/proc/<pid>/maps) or holds open (/proc/<pid>/fd)."""
    found = set()
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith(f"{SHM}/"):
                    found.add(int(parts[4]))
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(fd.path).startswith(f"{SHM}/"):
                    found.add(os.stat(fd.path).st_ino)
            except OSError:
                continue
    except OSError:  # gone, or not ours to read
        pass
    return found


def created_since(since: float, patterns: Iterable[str] = PYTHON_SEGMENTS) -> set[Path]:
    """Files matching ``patterns`` (by default Python multiprocessing's segments and semaphores)
    created, or last changed, at or after ``since``."""
    found = set()
    for pattern in patterns:
        for path in SHM.glob(pattern):
            try:
                if path.stat().st_ctime >= since:
                    found.add(path)
            except OSError:
                pass
    return found


def remove_unreferenced(candidates: Iterable[Path]) -> list[tuple[Path, int]]:
    """Unlink each candidate that still exists and that no live process uses; (path, bytes) of each removed."""
    candidates = [p for p in candidates if p.exists()]  # listed before the scan: a file made later is no candidate
    if not candidates:
        return []
    in_use = references()
    removed = []
    for path in candidates:
        if _inode(path) in in_use:
            continue
        try:
            size = path.stat().st_size
            path.unlink()
            removed.append((path, size))
        except OSError:
            pass
    return removed
