"""The served model's tokenizer and chat template, reached two ways with one interface.

Prefix analysis is only right on the token stream the server really sees, so both ways use the
model's own files: vLLM's ``/tokenize`` (what the running server does), or the same model folder
loaded locally with transformers (no server needed; vLLM renders chat the same way: template to
text, then tokens without extra special tokens).
"""

import json
from pathlib import Path
from typing import Protocol

from clients.endpoint import Endpoint


class ChatTokenizer(Protocol):
    context_len: int
    label: str

    def chat_ids(self, messages: list[dict], add_generation_prompt: bool = True) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class ServedTokenizer:
    """The tokenizer behind a running vLLM endpoint."""

    def __init__(self, endpoint: str, model: str, api_key: str = ""):
        self.endpoint = Endpoint(url=endpoint, model=model, api_key=api_key)
        self.context_len = self.endpoint.max_model_len()
        self.label = f"{model} at {endpoint} (/tokenize)"

    def chat_ids(self, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
        return self.endpoint.tokenize_chat(messages, add_generation_prompt)

    def decode(self, ids: list[int]) -> str:
        return self.endpoint.detokenize(ids) if ids else ""


class LocalTokenizer:
    """The tokenizer and chat template of a local Hugging Face model folder (offline).

    ``chat_template`` overrides the folder's template (tests use it to show a template that adds
    dynamic text)."""

    def __init__(self, model_dir: str | Path, chat_template: str | None = None):
        from transformers import AutoTokenizer  # slow import: only when a local tokenizer is wanted

        self.model_dir = Path(model_dir)
        self._tok = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self._template = chat_template
        config = json.loads((self.model_dir / "config.json").read_text())
        self.context_len = int(config.get("max_position_embeddings") or 0)
        self.label = f"{self.model_dir.name} (local model folder)"

    def chat_text(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        return self._tok.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt, chat_template=self._template
        )

    def chat_ids(self, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
        return self._tok(self.chat_text(messages, add_generation_prompt), add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)
