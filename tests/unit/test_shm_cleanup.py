"""Cleaning /dev/shm never takes what a live process uses, however the file got its name."""

import multiprocessing
import os
import time

from serving import shm


def test_a_live_named_semaphore_is_kept_though_its_mapping_shows_another_name():
    # A spawn-context lock is a named semaphore (sem.mp-*), built by glibc under a temporary name
    # and then linked to its own: /proc/<pid>/maps shows the temporary one.
    lock = multiprocessing.get_context("spawn").Lock()
    since = time.time() - 5
    ours = [p for p in shm.created_since(since, ["sem.mp-*"]) if p.exists()]
    assert ours, "the lock should have a named semaphore in /dev/shm"
    removed = shm.remove_unreferenced(ours)
    assert removed == [] and all(p.exists() for p in ours)
    assert set(ours) <= shm.held_by([os.getpid()])
    del lock


def test_an_unreferenced_file_is_removed(tmp_path):
    orphan = shm.SHM / f"psm_lmlab_test_{time.time_ns()}"
    orphan.write_bytes(b"x" * 10)
    assert shm.remove_unreferenced([orphan]) == [(orphan, 10)] and not orphan.exists()
