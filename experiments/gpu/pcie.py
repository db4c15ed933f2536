"""``python -m experiments.gpu.pcie [OUT.json]``: host-to-GPU copy bandwidth, the floor of an LMCache CPU-tier hit.

A hit from LMCache's CPU tier copies the prefix's KV from pinned host memory to the GPU, so no hit can
be faster than the question's own compute plus ``KV bytes / this bandwidth``. Medians of 10 copies of
1 GiB, each timed with CUDA events.
"""

import json
import statistics
import sys


def measure(size_bytes: int = 1 << 30, repeats: int = 10) -> dict:
    import torch

    host = torch.empty(size_bytes, dtype=torch.uint8, pin_memory=True)
    device = torch.empty(size_bytes, dtype=torch.uint8, device="cuda")

    def timed(copy) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        copy()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000

    figures = {}
    for name, copy in {"host_to_device": lambda: device.copy_(host, non_blocking=True),
                       "device_to_host": lambda: host.copy_(device, non_blocking=True)}.items():  # fmt: skip
        timed(copy)  # warm-up
        seconds = statistics.median(timed(copy) for _ in range(repeats))
        figures[f"{name}_gb_per_s"] = round(size_bytes / seconds / 1e9, 2)
    return {"device": torch.cuda.get_device_name(), "bytes_per_copy": size_bytes, "copies": repeats, **figures}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    figures = measure()
    text = json.dumps(figures, indent=2)
    if argv:
        with open(argv[0], "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
