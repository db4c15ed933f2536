"""The disk tier's folder, checked before anything starts: a folder LMCache cannot write, or one
without room, is refused with one line instead of failing inside the LMCache server later."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from lab.errors import UserError

# Below this much free space an unbounded disk tier is refused: it would fill up within a few manuals.
MIN_FREE_DISK_BYTES = 256 * 2**20


def check_disk_folder(disk: Path, bound_gib: float) -> None:
    """Refuse a disk-tier folder that LMCache could not write: not a folder, not writable, or a file
    system without room for the bound (or, unbounded, for a few manuals). Leaves nothing behind."""
    setting = "LMLAB_DISK_DIR"
    existing = next((p for p in [disk, *disk.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise UserError(f"{setting}={disk} cannot be a folder: {existing} is not a directory; set {setting} to a writable folder or 'off'")
    # Writing is the only sure test: access() says yes to root on a read-only mount or in /proc.
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        where = "" if existing == disk else f" (in {existing})"
        raise UserError(f"{setting}={disk} cannot be written{where}: {err.strerror or err}; "
                        f"LMCache's disk tier must write there: set {setting} to a writable folder or 'off'") from None  # fmt: skip
    free = shutil.disk_usage(existing).free
    need = int(bound_gib * 2**30) if bound_gib > 0 else MIN_FREE_DISK_BYTES
    if free < need:
        what = f"the disk tier's bound LMLAB_DISK_GIB={bound_gib:.12g}" if bound_gib > 0 else f"{need / 2**20:.0f} MiB"
        raise UserError(f"{setting}={disk} has {free / 2**30:.2f} GiB free, less than {what}; free space there, "
                        f"lower LMLAB_DISK_GIB or set {setting} elsewhere")  # fmt: skip


def make_disk_folder(disk: Path, bound_gib: float, own: bool, log: Callable[[str], object]) -> None:
    """Create the disk tier's folder before its LMCache server starts.

    A bounded tier (LMCache's ``fs_native`` adapter) counts only what it stores itself: its usage starts
    at 0 and it never scans the folder, so an earlier run's files would sit on top of its bound, never
    evicted (a second soak hour measured 844 MiB of them over its 1 GiB bound). The stack's own default
    folder therefore starts empty; a folder you named keeps its files, and a line says what they cost."""
    if bound_gib > 0 and disk.is_dir():
        if own:
            shutil.rmtree(disk)
        elif any(f.is_file() for f in disk.rglob("*")):
            log(f"[yellow]note:[/] {disk} holds files from an earlier run; LMCache's bounded disk tier does not count "
                f"them, so they sit on top of LMLAB_DISK_GIB={bound_gib:.12g}: empty the folder to keep the bound")  # fmt: skip
    disk.mkdir(parents=True, exist_ok=True)
