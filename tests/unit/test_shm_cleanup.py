"""Cleaning /dev/shm never takes what a live process uses, however the file got its name."""

import multiprocessing
import os
import time

from serving import shm


def test_a_live_named_semaphore_is_kept_though_its_mapping_shows_another_name():
    # A spawn-context lock is a named semaphore (sem.mp-*), built by glibc under a temporary name
    # and then linked to its own: /proc/<pid>/maps shows the temporary one.
    before = {p.name for p in shm.SHM.glob("sem.mp-*")}
    lock = multiprocessing.get_context("spawn").Lock()
    # Only this process's own new semaphore: another session's on this machine is none of this test's business.
    ours = [p for p in shm.SHM.glob("sem.mp-*") if p.name not in before and p in shm.held_by([os.getpid()])]
    assert len(ours) == 1, "the lock should have one named semaphore in /dev/shm, mapped by this process"
    assert shm.remove_unreferenced(ours) == [] and ours[0].exists()
    del lock


def test_an_unreferenced_file_is_removed(tmp_path):
    orphan = shm.SHM / f"psm_lmlab_test_{time.time_ns()}"
    orphan.write_bytes(b"x" * 10)
    assert shm.remove_unreferenced([orphan]) == [(orphan, 10)] and not orphan.exists()
