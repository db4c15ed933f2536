"""LangFuse settings from the SDK's own environment variables, checked before any client exists.

Tracing is on when ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` are set; the server is
``LANGFUSE_BASE_URL`` (or the older ``LANGFUSE_HOST``), LangFuse Cloud when neither is set, as in
the SDK. Anything off gives one line saying why, and the run goes on untraced, except a malformed
URL: the keys say tracing is wanted, so ``run_graph`` stops with ``error`` before anything starts.
"""

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://cloud.langfuse.com"
SETUP_HINT = "set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL to trace runs"
UNTRACED = "the run goes on untraced"


@dataclass(frozen=True)
class LangfuseSettings:
    public_key: str
    secret_key: str = field(repr=False)  # never printed, never written to a run folder
    base_url: str
    timeout_s: int = 5  # per export request; the SDK's own default


@dataclass(frozen=True)
class Verdict:
    """What the environment asks for: ``settings`` when tracing is on, else None; ``notice`` says so
    in one line; ``warning`` is True when the settings were there but malformed; ``error`` is the
    one-line refusal for a run when they are too malformed to go on untraced."""

    settings: LangfuseSettings | None
    notice: str
    warning: bool = False
    error: str | None = None


def shown_url(url: str) -> str:
    """A URL fit for logs: any user:password part is dropped."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()
    return url


def url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a non-numeric port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host, e.g. https://cloud.langfuse.com"
    return None


def from_env(env: dict | None = None) -> Verdict:
    env = os.environ if env is None else env
    public = env.get("LANGFUSE_PUBLIC_KEY", "").strip()
    secret = env.get("LANGFUSE_SECRET_KEY", "").strip()
    if env.get("LANGFUSE_TRACING_ENABLED", "true").strip().lower() == "false":
        return Verdict(None, "LangFuse tracing off (LANGFUSE_TRACING_ENABLED=false)")
    if not public and not secret:
        return Verdict(None, f"LangFuse tracing off: {SETUP_HINT}")
    if not public or not secret:
        present, missing = (
            ("LANGFUSE_SECRET_KEY", "LANGFUSE_PUBLIC_KEY") if secret else ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")
        )
        return Verdict(None, f"LangFuse tracing off: {present} is set but {missing} is not; {UNTRACED}", True)
    name = "LANGFUSE_BASE_URL" if env.get("LANGFUSE_BASE_URL", "").strip() else "LANGFUSE_HOST"
    url = env.get(name, "").strip() or DEFAULT_BASE_URL
    problem = url_problem(url)
    if problem:
        setting = f"{name}={shown_url(url)!r} {problem}"
        fix = f"fix {name}, or unset LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY to run untraced"
        return Verdict(None, f"LangFuse tracing off: {setting}; {UNTRACED}", True, error=f"{setting}; {fix}")
    timeout = env.get("LANGFUSE_TIMEOUT", "").strip()
    settings = LangfuseSettings(
        public, secret, url.rstrip("/"), int(timeout) if timeout.isdigit() and int(timeout) > 0 else 5
    )
    return Verdict(settings, f"LangFuse tracing on: {shown_url(settings.base_url)}")
