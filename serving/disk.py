"""The disk tier's folder, checked before anything starts: a folder LMCache cannot write, or one
without room, is refused with one line instead of failing inside the LMCache server later."""

import shutil
import tempfile
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
