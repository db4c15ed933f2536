"""A live process's named semaphore is never taken for a leftover: glibc maps it under a temporary
name, so only its inode shows that it is in use."""

import multiprocessing
import time

from serving import shm


def test_a_semaphore_a_live_process_holds_is_kept():
    since = time.time() - 1
    lock = multiprocessing.get_context("spawn").Lock()  # a named sem.mp-* in /dev/shm, as vLLM's spawn makes
    made = {p for p in shm.created_since(since, ("sem.mp-*",)) if p.exists()}
    assert made, "the lock made a sem.mp-* file"
    assert shm.remove_unreferenced(made) == []
    assert all(p.exists() for p in made)
    del lock
