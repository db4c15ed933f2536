"""Where the project keeps things that never go into git: models, caches, stack state, logs."""

import os
from pathlib import Path


def lab_home() -> Path:
    """Root of everything the project writes outside the repo (``LMLAB_HOME``, default ~/.cache/lmcache-lab)."""
    return Path(os.environ.get("LMLAB_HOME") or Path.home() / ".cache" / "lmcache-lab").expanduser()
