"""``python -m experiments.gpu.naming``: the GPU run's results folder name, after the card it runs on.

``<date>-<card>-vllm<version>-lmcache<version>``, e.g. ``2026-12-02-h200-vllm0.26.0-lmcache0.5.3``;
the card is read from ``nvidia-smi``, the versions from the installed packages.
"""

import re
import subprocess
import sys
import time
from importlib import metadata

from lab.cli import command
from lab.errors import UserError


def card_slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``h100``, ``NVIDIA H200`` -> ``h200``, ``NVIDIA A100-SXM4-40GB`` -> ``a100``."""
    words = re.sub(r"^(NVIDIA|Tesla)\s+", "", name.strip(), flags=re.IGNORECASE).split()
    first = re.split(r"[-_ ]", words[0])[0] if words else "gpu"
    return re.sub(r"[^a-z0-9.]", "", first.lower()) or "gpu"


def folder_name(card: str, versions: dict[str, str], date: str) -> str:
    return f"{date}-{card_slug(card)}-vllm{versions.get('vllm', 'none')}-lmcache{versions.get('lmcache', 'none')}"


@command
def main(argv: list[str] | None = None) -> int:
    try:
        card = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                              check=True).stdout.splitlines()[0]  # fmt: skip
    except (OSError, subprocess.CalledProcessError, IndexError):
        raise UserError("nvidia-smi did not name a card; pass RESULTS_DIR to run_gpu.sh") from None
    versions = {}
    for name in ("vllm", "lmcache"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    print(folder_name(card, versions, time.strftime("%Y-%m-%d")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
