"""How many tokens of KV each cache tier holds, from the settings and the model's shape, before anything runs.

- KV bytes per token: 2 (K and V) x layers x KV heads x head dim x the dtype's bytes, from the model
  folder's ``config.json`` (SmolLM2-135M: 2 x 30 x 3 x 64 x 2 = 23,040 bytes).
- vLLM's KV memory (cpu profile): ``kv_cache_gib``, used in whole blocks of 128 tokens (vLLM's CPU
  block size), less the one block vLLM keeps aside. On gpu vLLM sizes it from ``gpu_memory_utilization`` once the weights are loaded, so
  it is unknown here; vLLM logs it at start ("GPU KV cache size: N tokens").
- LMCache's memory tier (L1): ``lmcache_l1_gib``, in whole chunks; LMCache evicts when it is
  ``EVICTION_WATERMARK`` full, so that share is what stays hot.
- LMCache's disk tier: ``disk_gib`` (the same watermark) when bounded; unbounded, it grows until the
  folder's file system is full, so the free space is its capacity.

A manual occupies a tier in that tier's units: vLLM holds every visit's whole prompt and answer in
blocks, LMCache the prompt's full chunks. ``manuals_held`` turns a tier's tokens into manuals.
"""

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from lab.errors import UserError

GIB = 2**30
VLLM_CPU_BLOCK_TOKENS = 128  # vLLM's CPU backend rounds its KV cache to blocks of this many tokens
# LMCache 0.5.6's default --eviction-trigger-watermark (L1) and an L2 eviction block's default: it
# evicts once a tier is this full, so this share of the tier is what it keeps.
EVICTION_WATERMARK = 0.8
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "half": 2, "float32": 4, "float": 4, "fp8": 1, "float8_e4m3fn": 1}


@dataclass(frozen=True)
class ModelShape:
    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


def model_shape(config: dict, dtype: str = "bfloat16") -> ModelShape:
    """The KV-relevant shape of a Hugging Face ``config.json`` (Llama-style attention; multimodal
    configs keep it under ``text_config``)."""
    cfg = config.get("text_config", config)
    try:
        heads = int(cfg["num_attention_heads"])
        head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // heads)
        shape = ModelShape(layers=int(cfg["num_hidden_layers"]), kv_heads=int(cfg.get("num_key_value_heads", heads)),
                           head_dim=head_dim, dtype_bytes=_dtype_bytes(dtype, cfg))  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"the model's config.json lacks what KV size needs ({err}): num_hidden_layers, "
                        "num_attention_heads, num_key_value_heads, head_dim or hidden_size") from None  # fmt: skip
    return shape


def _dtype_bytes(dtype: str, cfg: dict) -> int:
    name = dtype if dtype not in ("", "auto") else str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16")
    if name not in DTYPE_BYTES:
        raise UserError(f"dtype {name!r} has no known size; use one of {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[name]


def read_model_shape(model_dir: Path, dtype: str = "bfloat16") -> ModelShape:
    path = Path(model_dir) / "config.json"
    try:
        return model_shape(json.loads(path.read_text()), dtype)
    except (OSError, ValueError):
        raise UserError(f"cannot read {path}: the capacity model needs the model folder's config.json") from None


@dataclass(frozen=True)
class Tier:
    """One cache tier's capacity. ``tokens`` None: not known before the stack runs."""

    name: str  # vllm_kv, lmcache_l1, lmcache_disk
    label: str
    bytes: int | None
    tokens: int | None
    unit_tokens: int  # what the tier allocates in: vLLM blocks, LMCache chunks
    note: str = ""

    def manuals_held(self, visit_tokens: int) -> float | None:
        """How many manuals the tier keeps hot, each visit taking ``visit_tokens`` of its KV
        (rounded up to the tier's unit by ``footprint``)."""
        if self.tokens is None or visit_tokens <= 0:
            return None
        return self.tokens / self.footprint(visit_tokens)

    def footprint(self, tokens: int) -> int:
        """Tokens a prompt of ``tokens`` occupies here: vLLM takes whole blocks (the last one partly
        filled), LMCache keeps only full chunks."""
        if self.name == "vllm_kv":
            return math.ceil(tokens / self.unit_tokens) * self.unit_tokens
        return max(self.unit_tokens, tokens // self.unit_tokens * self.unit_tokens)


def _whole(units_bytes: float, unit_bytes: int, unit_tokens: int) -> int:
    return int(units_bytes // unit_bytes) * unit_tokens


def tiers(settings, shape: ModelShape, *, free_disk_bytes: int | None = None) -> list[Tier]:
    """The tiers ``settings`` (a ``StackSettings``) give, vLLM's first. LMCache's tiers only with
    LMCache on; the disk tier only with a disk folder."""
    bpt = shape.kv_bytes_per_token
    out = []
    if settings.gpu:
        out.append(Tier("vllm_kv", "vLLM KV memory (GPU)", None, None, 16,
                        note=f"sized by vLLM at start from gpu_memory_utilization={settings.gpu_memory_utilization}; see its log"))  # fmt: skip
    else:
        kv = int(settings.kv_cache_gib * GIB)
        block = VLLM_CPU_BLOCK_TOKENS
        # vLLM keeps one block aside (its null block): it logs all of them as its "KV cache size", but
        # a request, and so the prefix cache, can use one fewer.
        usable = max(0, _whole(kv, bpt * block, block) - block)
        out.append(Tier("vllm_kv", "vLLM KV memory", kv, usable, block,
                        note=f"{settings.kv_cache_gib:g} GiB in blocks of {block} tokens, one kept aside"))  # fmt: skip
    if not settings.lmcache:
        return out
    chunk = settings.chunk_size
    l1 = int(settings.lmcache_l1_gib * GIB)
    out.append(Tier("lmcache_l1", "LMCache memory (L1)", l1, _whole(l1 * EVICTION_WATERMARK, bpt * chunk, chunk), chunk,
                    note=f"{settings.lmcache_l1_gib:g} GiB, evicts at {EVICTION_WATERMARK:.0%}"))  # fmt: skip
    disk_path = settings.disk_path
    if disk_path is not None:
        disk_gib = getattr(settings, "disk_gib", 0) or 0
        if disk_gib > 0:
            size = int(disk_gib * GIB)
            out.append(Tier("lmcache_disk", "LMCache disk", size, _whole(size * EVICTION_WATERMARK, bpt * chunk, chunk), chunk,
                            note=f"{disk_gib:g} GiB bound, evicts at {EVICTION_WATERMARK:.0%}"))  # fmt: skip
        else:
            free = free_disk_bytes if free_disk_bytes is not None else free_bytes(disk_path)
            out.append(Tier("lmcache_disk", "LMCache disk", free, None if free is None else _whole(free, bpt * chunk, chunk), chunk,
                            note="unbounded: the file system's free space"))  # fmt: skip
    return out


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    for p in [Path(path), *Path(path).parents]:
        if p.exists():
            return shutil.disk_usage(p).free
    return None


def describe(settings, shape: ModelShape, visit_tokens: int | None = None) -> list[dict]:
    """Rows for ``python -m serving capacity``: each tier's size, tokens, and manuals of ``visit_tokens``."""
    rows = []
    for t in tiers(settings, shape):
        held = t.manuals_held(visit_tokens) if visit_tokens else None
        rows.append({
            "tier": t.label,
            "size": "-" if t.bytes is None else f"{t.bytes / GIB:.3g} GiB",
            "tokens": "-" if t.tokens is None else f"{t.tokens:,}",
            "manuals": "-" if held is None else f"{held:.1f}",
            "how": t.note,
        })  # fmt: skip
    return rows
