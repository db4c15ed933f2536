"""What ``down`` may remove from /dev/shm: only files that no live process maps or holds open (the
spawn-semaphore case is in test_shm_cleanup.py)."""

import os
import uuid
from multiprocessing import shared_memory
from pathlib import Path

from serving import shm


def test_a_mapped_segment_stays_and_an_orphan_goes():
    used = shared_memory.SharedMemory(create=True, size=4096)
    orphan = shared_memory.SharedMemory(create=True, size=4096)
    orphan_path = Path("/dev/shm") / orphan.name.lstrip("/")
    orphan.close()  # what a SIGKILLed creator leaves: the file, mapped by no one
    try:
        removed = shm.remove_unreferenced([Path("/dev/shm") / used.name.lstrip("/"), orphan_path])
        assert removed == [(orphan_path, 4096)]
        assert (Path("/dev/shm") / used.name.lstrip("/")).exists()
        assert Path("/dev/shm") / used.name.lstrip("/") in shm.held_by([os.getpid()])
    finally:
        used.close()
        used.unlink()


def test_a_file_held_open_stays_and_names_made_since_are_found(tmp_path):
    path = Path("/dev/shm") / f"psm_test{uuid.uuid4().hex[:8]}"
    with open(path, "wb"):
        assert path in shm.created_since(path.stat().st_ctime)
        assert shm.remove_unreferenced([path]) == []
    assert shm.remove_unreferenced([path]) == [(path, 0)]
