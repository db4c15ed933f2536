"""vLLM's HTTP surface beyond chat: model list, /tokenize, /detokenize and /metrics."""

import httpx

from lab.errors import UserError


def server_root(endpoint: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port``: /tokenize and /metrics live at the root."""
    root = endpoint.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key and api_key != "EMPTY" else {}


def check_endpoint(endpoint: str, model: str, api_key: str = "") -> list[str]:
    """Make sure ``endpoint`` is an OpenAI-compatible server that serves ``model``; return its models."""
    if not endpoint.startswith(("http://", "https://")):
        raise UserError(f"endpoint {endpoint!r} is not an http(s) URL; use e.g. http://127.0.0.1:8100/v1")
    url = endpoint.rstrip("/") + "/models"
    try:
        resp = httpx.get(url, headers=_headers(api_key), timeout=10)
    except httpx.HTTPError as err:
        raise UserError(f"cannot reach {endpoint} ({type(err).__name__}); start the stack (python -m serving up) or fix --endpoint") from None
    if resp.status_code == 401:
        raise UserError(f"{endpoint} refused the API key (401); set LMLAB_API_KEY to the server's key")
    try:
        models = [m["id"] for m in resp.json()["data"]]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{endpoint} is not an OpenAI-compatible server (GET /models answered {resp.status_code})") from None
    if model not in models:
        raise UserError(f"model {model!r} is not served at {endpoint}; it serves: {', '.join(models)}")
    return models


def tokenize_chat(endpoint: str, model: str, messages: list[dict], add_generation_prompt: bool, api_key: str = "") -> list[int]:
    """The token ids of ``messages`` exactly as the server renders them for a chat call."""
    resp = httpx.post(
        server_root(endpoint) + "/tokenize",
        json={"model": model, "messages": messages, "add_generation_prompt": add_generation_prompt},
        headers=_headers(api_key),
        timeout=60,
    )
    resp.raise_for_status()
    return resp.json()["tokens"]


def count_chat_tokens(endpoint: str, model: str, messages: list[dict], add_generation_prompt: bool, api_key: str = "") -> int:
    """Tokens of ``messages`` rendered by the served model's own chat template."""
    return len(tokenize_chat(endpoint, model, messages, add_generation_prompt, api_key))


def detokenize(endpoint: str, model: str, tokens: list[int], api_key: str = "") -> str:
    """The text of ``tokens`` (vLLM's /detokenize)."""
    resp = httpx.post(
        server_root(endpoint) + "/detokenize", json={"model": model, "tokens": tokens}, headers=_headers(api_key), timeout=60
    )
    resp.raise_for_status()
    return resp.json()["prompt"]


def max_model_len(endpoint: str, model: str, api_key: str = "") -> int:
    """The context window the server enforces for ``model``."""
    resp = httpx.get(endpoint.rstrip("/") + "/models", headers=_headers(api_key), timeout=10)
    resp.raise_for_status()
    return next(m.get("max_model_len") or 0 for m in resp.json()["data"] if m["id"] == model)


def scrape_metrics(endpoint: str, api_key: str = "") -> str | None:
    """The text of vLLM's /metrics, or None when the server does not expose it."""
    try:
        resp = httpx.get(server_root(endpoint) + "/metrics", headers=_headers(api_key), timeout=10)
    except httpx.HTTPError:
        return None
    return resp.text if resp.status_code == 200 else None


def reset_prefix_cache(endpoint: str, api_key: str = "") -> None:
    """Empty vLLM's own prefix cache (needs VLLM_SERVER_DEV_MODE=1, which the launcher sets).

    vLLM answers 200 even when it reset nothing, so callers verify with the next call's metrics.
    """
    resp = httpx.post(server_root(endpoint) + "/reset_prefix_cache", headers=_headers(api_key), timeout=30)
    if resp.status_code == 404:
        raise UserError(f"{endpoint} has no /reset_prefix_cache; start vLLM with VLLM_SERVER_DEV_MODE=1")
    resp.raise_for_status()
