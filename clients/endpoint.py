"""One OpenAI-compatible endpoint as a value, and vLLM's HTTP surface beyond chat as its methods:
the model list, /tokenize, /detokenize, /metrics, /reset_prefix_cache, and its LMCache server's /metrics.

An ``Endpoint`` is made by the stack's settings for one instance (``StackSettings.endpoint_of``) or
from ``--endpoint`` and its ``LMLAB_*`` settings (``Context.server``); nothing rebuilds its URLs.
"""

from dataclasses import dataclass

import httpx

from lab.errors import UserError


def server_root(url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port``: /tokenize and /metrics live at the root."""
    root = url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key and api_key != "EMPTY" else {}


def scrape_metrics(url: str, api_key: str = "") -> str | None:
    """The text of the /metrics under ``url``'s root (vLLM's, or an LMCache server's), or None when
    nothing answers there with them."""
    try:
        resp = httpx.get(server_root(url) + "/metrics", headers=auth_headers(api_key), timeout=10)
    except httpx.HTTPError:
        return None
    return resp.text if resp.status_code == 200 else None


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where and how a client calls a model: the OpenAI base URL (with /v1), the model name it serves,
    its API key ("" or EMPTY: none), the HTTP root of the LMCache server behind it ("": none known)
    and the timeout of one chat call."""

    url: str
    model: str
    api_key: str = ""
    lmcache_metrics_url: str = ""
    timeout_s: float = 600.0

    @property
    def root(self) -> str:
        return server_root(self.url)

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.api_key)

    def check(self) -> list[str]:
        """Make sure this is an OpenAI-compatible server that serves the model; return its models."""
        if not self.url.startswith(("http://", "https://")):
            raise UserError(f"endpoint {self.url!r} is not an http(s) URL; use e.g. http://127.0.0.1:8100/v1")
        try:
            resp = httpx.get(self.url.rstrip("/") + "/models", headers=self.headers, timeout=10)
        except httpx.HTTPError as err:
            raise UserError(f"cannot reach {self.url} ({type(err).__name__}); start the stack (python -m serving up) or fix --endpoint") from None
        if resp.status_code == 401:
            raise UserError(f"{self.url} refused the API key (401); set LMLAB_API_KEY to the server's key")
        try:
            models = [m["id"] for m in resp.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{self.url} is not an OpenAI-compatible server (GET /models answered {resp.status_code})") from None
        if self.model not in models:
            raise UserError(f"model {self.model!r} is not served at {self.url}; it serves: {', '.join(models)}")
        return models

    def tokenize_chat(self, messages: list[dict], add_generation_prompt: bool) -> list[int]:
        """The token ids of ``messages`` exactly as the server renders them for a chat call."""
        body = {"model": self.model, "messages": messages, "add_generation_prompt": add_generation_prompt}
        resp = httpx.post(self.root + "/tokenize", json=body, headers=self.headers, timeout=60)
        resp.raise_for_status()
        return resp.json()["tokens"]

    def count_chat_tokens(self, messages: list[dict], add_generation_prompt: bool) -> int:
        """Tokens of ``messages`` rendered by the served model's own chat template."""
        return len(self.tokenize_chat(messages, add_generation_prompt))

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens`` (vLLM's /detokenize)."""
        resp = httpx.post(self.root + "/detokenize", json={"model": self.model, "tokens": tokens}, headers=self.headers, timeout=60)
        resp.raise_for_status()
        return resp.json()["prompt"]

    def max_model_len(self) -> int:
        """The context window the server enforces for the model."""
        resp = httpx.get(self.url.rstrip("/") + "/models", headers=self.headers, timeout=10)
        resp.raise_for_status()
        return next(m.get("max_model_len") or 0 for m in resp.json()["data"] if m["id"] == self.model)

    def scrape_metrics(self) -> str | None:
        """The text of vLLM's /metrics, or None when the server does not expose it."""
        return scrape_metrics(self.url, self.api_key)

    def reset_prefix_cache(self) -> None:
        """Empty vLLM's own prefix cache (needs VLLM_SERVER_DEV_MODE=1, which the launcher sets).

        vLLM answers 200 even when it reset nothing, so callers verify with the next call's metrics.
        """
        resp = httpx.post(self.root + "/reset_prefix_cache", headers=self.headers, timeout=30)
        if resp.status_code == 404:
            raise UserError(f"{self.url} has no /reset_prefix_cache; start vLLM with VLLM_SERVER_DEV_MODE=1")
        resp.raise_for_status()
