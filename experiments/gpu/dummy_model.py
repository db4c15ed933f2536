"""``python -m experiments.gpu.dummy_model OUT [--tokenizer DIR]``: a model folder shaped like Llama-3.1-8B.

vLLM's ``--load-format dummy`` fills it with random weights: the compute and the KV cache size of an
8B model without downloading 16 GB. Right for timing, useless for answers. The tokenizer (and chat
template) is SmolLM2's own, so prompts, manuals and token counts are built exactly as on the cpu
profile; the vocabulary size follows the tokenizer.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from serving.model import default_model_dir
from lab.cli import command
from lab.errors import UserError

# Llama-3.1-8B's shape (meta-llama/Llama-3.1-8B-Instruct config.json), less its vocabulary.
LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "hidden_act": "silu",
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"]


def kv_bytes_per_token(config: dict, dtype_bytes: int = 2) -> int:
    """Keys and values of every layer for one token: what a cache hit must bring back to the GPU."""
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * dtype_bytes


def write_dummy_model(out: Path, tokenizer_dir: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy2(tokenizer_dir / name, out / name)
    small = json.loads((tokenizer_dir / "config.json").read_text())
    config = {**LLAMA_31_8B, "vocab_size": small["vocab_size"],
              "bos_token_id": small.get("bos_token_id"), "eos_token_id": small.get("eos_token_id")}  # fmt: skip
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


@command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.gpu.dummy_model", description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="folder to write")
    p.add_argument("--tokenizer", type=Path, default=None, help="folder with SmolLM2's tokenizer and config.json (default: the provisioned model)")
    args = p.parse_args(argv)
    tokenizer = args.tokenizer or default_model_dir()
    if not (tokenizer / "tokenizer.json").is_file() or not (tokenizer / "config.json").is_file():
        raise UserError(f"{tokenizer} has no tokenizer.json and config.json; run `python -m serving model` first or pass --tokenizer")
    out = write_dummy_model(args.out, tokenizer)
    config = json.loads((out / "config.json").read_text())
    print(f"{out}: Llama-3.1-8B shape, vocab {config['vocab_size']}, KV {kv_bytes_per_token(config) // 1024} KiB per token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
