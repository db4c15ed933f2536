"""Shared memory that servers leave in /dev/shm when they are killed or crash.

LMCache's L1 pool has a name of the stack's own (removed by name). Python's multiprocessing, which
vLLM uses between its API server, engine and workers, also creates segments (``psm_*``) and named
semaphores (``sem.mp-*``); a process that dies by SIGKILL never unlinks them, and nothing else will.
A file is only removed once no live process maps it or holds it open, so a running server of
another stack keeps what it uses.

Files are matched by inode, not by name: glibc's ``sem_open`` builds a semaphore under a temporary
name, maps it, then links it as ``sem.mp-*`` and drops the temporary name, so its creator's mapping
names a deleted file. By name, a semaphore waiting for a spawned child to open it would look unused.
"""

import os
from collections.abc import Iterable
from pathlib import Path

SHM = Path("/dev/shm")
PYTHON_SEGMENTS = ("psm_*", "sem.mp-*")


def in_use() -> set[int]:
    """The inodes of every /dev/shm file that a live process maps or holds open."""
    inodes: set[int] = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            inodes |= _held(int(entry.name))
    return inodes


def held_by(pids: Iterable[int]) -> set[Path]:
    """The /dev/shm files (by their current names) that these processes map or hold open."""
    inodes = {inode for pid in pids for inode in _held(pid)}
    return {path for path in _files(SHM.iterdir()) if path.stat().st_ino in inodes}


def _held(pid: int) -> set[int]:
    found = set()
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)  # address perms offset dev inode path
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


def _files(paths: Iterable[Path]) -> list[Path]:
    files = []
    for path in paths:
        try:
            if path.is_file():
                files.append(path)
        except OSError:
            pass
    return files


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
    candidates = _files(candidates)  # listed before the scan: a file made later is no candidate
    if not candidates:
        return []
    used = in_use()
    removed = []
    for path in candidates:
        try:
            st = path.stat()
            if st.st_ino in used:
                continue
            path.unlink()
            removed.append((path, st.st_size))
        except OSError:
            pass
    return removed
