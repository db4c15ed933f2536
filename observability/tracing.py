"""One run's LangFuse tracing: the SDK's LangChain ``CallbackHandler`` in each graph run's config.

With the handler in the config every graph node becomes an observation and the streamed chat call a
generation with model, usage (cached input tokens as ``input_cache_read``) and completion start
time, from which LangFuse shows TTFT. The run is one LangFuse session; scenario and variants are
the traces' tags. The handler (``observability.handler``) also puts each call's cache figures on the
node that recorded it, so the graph itself never imports tracing.
"""

import atexit
import logging
import threading

from observability import settings as lf_settings

# Loggers of the SDK and of the OpenTelemetry exporter under it. While a run is traced, their
# warnings (one per failed export when LangFuse is unreachable) are counted, not printed, and
# summed up in one line at flush.
SDK_LOGGERS = ("langfuse", "opentelemetry")
# Every node's input and output is the graph state, which holds the manual two or three times over.
# Copying it into each observation would make the SDK encode and send megabytes per session on the
# CPU the model server needs; the middle of long texts is elided instead (heads and tails stay).
ELIDE_ABOVE = 4000
KEEP_EACH_END = 1000


def elide_long_text(*, data):
    """LangFuse mask: long strings keep their first and last ``KEEP_EACH_END`` characters."""
    if isinstance(data, str):
        if len(data) <= ELIDE_ABOVE:
            return data
        cut = len(data) - 2 * KEEP_EACH_END
        return f"{data[:KEEP_EACH_END]}\n[... {cut:,} characters elided in the trace ...]\n{data[-KEEP_EACH_END:]}"
    if isinstance(data, dict):
        return {k: elide_long_text(data=v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [elide_long_text(data=v) for v in data]
    return data


def new_client(s: lf_settings.LangfuseSettings):
    """The process's LangFuse client for ``s``. The SDK keeps one client per public key in a process
    (the first one's server and mask win), so every client here is made by this function."""
    from langfuse import Langfuse

    return Langfuse(public_key=s.public_key, secret_key=s.secret_key, base_url=s.base_url, timeout=s.timeout_s,
                    mask=elide_long_text)  # fmt: skip


class _Quiet(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage().splitlines()[0][:200]


class Tracing:
    """``Tracing.from_env(session_id)``; ``apply(config)`` per graph run; ``flush()`` at the end.

    When tracing is off every method is a no-op, ``enabled`` is False and ``notice`` says why.
    """

    def __init__(self, verdict: lf_settings.Verdict, session_id: str, *, quiet_sdk_logs: bool = True):
        self.settings = verdict.settings
        self.notice = verdict.notice
        self.warning = verdict.warning
        self.session_id = session_id
        self.client = None
        self._quiet: _Quiet | None = None
        self._flushing: threading.Thread | None = None
        self._problem: str | None = None
        self._saved_loggers: list[tuple[logging.Logger, bool]] = []
        self.experiments = None  # an ExperimentRecorder once record_experiments() is called
        self._experiments_done = False
        if self.settings is None:
            return
        try:
            from langfuse import Langfuse  # noqa: F401
            from langfuse.langchain import CallbackHandler  # noqa: F401  (fails early when langchain is missing)
        except ImportError as err:
            self.settings, self.warning = None, True
            self.notice = f"LangFuse tracing off: {err}; {lf_settings.UNTRACED}"
            return
        if quiet_sdk_logs:
            self._quiet_sdk_logs()
        try:
            self.client = new_client(self.settings)
        except Exception as err:  # e.g. a bad LANGFUSE_SAMPLE_RATE: the run goes on untraced
            self.close()
            self.settings, self.warning = None, True
            self.notice = f"LangFuse tracing off: the SDK refused its settings ({err}); {lf_settings.UNTRACED}"
            return
        self.notice = f"{verdict.notice}, session {session_id}"

    @classmethod
    def from_env(cls, session_id: str, env: dict | None = None, *, quiet_sdk_logs: bool = True) -> "Tracing":
        return cls(lf_settings.from_env(env), session_id, quiet_sdk_logs=quiet_sdk_logs)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def info(self) -> dict:
        """What a run folder may keep about its tracing: never a key."""
        info = {
            "enabled": self.enabled,
            "base_url": lf_settings.shown_url(self.settings.base_url) if self.enabled else None,
            "session_id": self.session_id if self.enabled else None,
            "notice": self.notice,
        }
        if self.experiments is not None:
            info["experiments"] = self.experiments.summary()
        return info

    def record_experiments(self, plan) -> None:
        """Also record this run as LangFuse experiment runs (``observability.experiments``): the
        calls of every graph run traced from now on are linked at flush. ``plan`` is an
        ``ExperimentPlan`` or a function making one. A no-op untraced; a plan that cannot be made
        costs the run one warning at flush, never the run."""
        if not self.enabled:
            return
        from observability.experiments import ExperimentRecorder

        try:
            self.experiments = ExperimentRecorder(self.client, plan() if callable(plan) else plan)
        except Exception as err:
            logging.getLogger("langfuse").warning("the run is not recorded as experiment runs: %s", err)

    def experiment_results(self, rows) -> None:
        """The run's results table, from which the experiment runs' scores are computed at flush."""
        if self.experiments is not None:
            self.experiments.results = rows

    def _on_call(self, record: dict, metadata: dict, span) -> None:
        if self.experiments is not None:
            self.experiments.on_call(record, metadata, span)

    def apply(self, config: dict, *, session_id: str | None = None) -> dict:
        """A copy of a graph run's config with the LangFuse handler, session and tags added.

        Tags come from the run metadata the graph reads: ``scenario`` and ``variants`` (or ``variant``).
        """
        if not self.enabled:
            return config
        from observability.handler import CallFiguresHandler

        meta = dict(config.get("metadata") or {})
        variants = meta.get("variants") if isinstance(meta.get("variants"), list) else [meta.get("variant")]
        tags = [str(t) for t in [meta.get("scenario"), *variants] if t]
        meta["langfuse_session_id"] = session_id or self.session_id
        meta["langfuse_tags"] = list(dict.fromkeys(tags))
        handler = CallFiguresHandler(public_key=self.settings.public_key, on_call=self._on_call)
        return {**config, "metadata": meta, "callbacks": [*(config.get("callbacks") or []), handler]}

    def flush(self, timeout_s: float = 5.0) -> str | None:
        """Send what is pending (the experiment runs first, the first time), waiting at most ``timeout_s``. Returns a one-line warning when
        LangFuse did not take everything (unreachable, refusing, too slow), else None."""
        if not self.enabled:
            return None
        if self._flushing is not None and self._flushing.is_alive():
            return self._problem  # an earlier flush still hangs: never wait twice
        self._flushing = threading.Thread(target=self._flush_quietly, name="langfuse-flush", daemon=True)
        self._flushing.start()
        self._flushing.join(timeout_s)
        url = lf_settings.shown_url(self.settings.base_url)
        problem = None
        if self._flushing.is_alive():
            # Don't let the SDK's exit hook wait for a server that does not answer. The SDK has no
            # public way to drop that hook (``Langfuse.shutdown()`` flushes first, i.e. hangs too), so
            # this reaches for the resource manager whose ``shutdown`` it registers with atexit;
            # tests/unit/test_tracing_handler.py fails when a new SDK moves either.
            resources = getattr(self.client, "_resources", None)
            if resources is not None:
                atexit.unregister(resources.shutdown)
            problem = f"LangFuse at {url} did not take the traces within {timeout_s:g} s; they may be lost"
        elif self._quiet and self._quiet.count:
            q = self._quiet
            problem = f"LangFuse at {url} refused or missed some traces ({q.count} SDK warnings, first: {q.first})"
        self._problem = problem
        return problem

    def _flush_quietly(self) -> None:
        try:
            if self.experiments is not None and not self._experiments_done:
                self._experiments_done = True  # once: a second flush only sends what is left
                try:
                    self.experiments.record()
                except Exception as err:  # counted and summed up like any failed export
                    logging.getLogger("langfuse").warning("could not record the experiment runs: %s", err)
            self.client.flush()
        except Exception as err:  # a broken export must not print a thread traceback
            logging.getLogger("langfuse").warning("flush failed: %s", err)

    def close(self) -> None:
        """Give the SDK's loggers back their own output."""
        for logger, propagate in self._saved_loggers:
            logger.removeHandler(self._quiet)
            logger.propagate = propagate
        self._saved_loggers = []

    def _quiet_sdk_logs(self) -> None:
        self._quiet = _Quiet()
        for name in SDK_LOGGERS:
            logger = logging.getLogger(name)
            self._saved_loggers.append((logger, logger.propagate))
            logger.addHandler(self._quiet)
            logger.propagate = False
