"""A local stand-in for LangFuse's endpoints, for tests: it receives what the real SDK sends and
decodes it.

No LangFuse server can run here (it needs Postgres, ClickHouse, Redis and S3), so this small HTTP
server (built on the benchmark's ``AcceptAll``) answers:

- ``POST /api/public/otel/v1/traces``: OTLP/HTTP protobuf (gzip or not), one span per observation.
- ``POST /api/public/ingestion``: JSON event batches; langfuse 4.x sends scores here (``score-create``).
- ``POST /api/public/scores``: one JSON score; where later SDKs send scores.

Spans are kept as plain dicts: ids in hex, ``attributes`` as Python values.
"""

import json

from experiments.langfuse_sinks import INGESTION_PATH, OTLP_PATH, AcceptAll, BlackHole, otlp_request, refused_url

__all__ = ["LangfuseReceiver", "BlackHole", "refused_url", "metadata", "decode_spans"]

SCORES_PATH = "/api/public/scores"


def any_value(v):
    """An OTLP AnyValue as a Python value."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def decode_spans(body: bytes) -> list[dict]:
    spans = []
    for rs in otlp_request(body).resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append({
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex() or None,
                    "name": s.name,
                    "start_ns": s.start_time_unix_nano,
                    "end_ns": s.end_time_unix_nano,
                    "scope": ss.scope.name,
                    "attributes": {a.key: any_value(a.value) for a in s.attributes},
                })  # fmt: skip
    return spans


class LangfuseReceiver(AcceptAll):
    """``with LangfuseReceiver() as r:`` serves on a free local port at ``r.url`` until the block ends."""

    def __init__(self):
        super().__init__()
        self.spans: list[dict] = []
        self.scores: list[dict] = []  # score bodies, from either endpoint
        self.events: list[dict] = []  # every ingestion event, scores included

    def answer(self, method, path, query, body):
        if method == "POST" and path == OTLP_PATH:
            spans = decode_spans(body)
            with self._lock:
                self.spans.extend(spans)
        elif method == "POST" and path == INGESTION_PATH:
            batch = json.loads(body).get("batch", [])
            with self._lock:
                self.events.extend(batch)
                self.scores.extend(e["body"] for e in batch if e.get("type") == "score-create")
        elif method == "POST" and path == SCORES_PATH:
            score = json.loads(body)
            with self._lock:
                self.scores.append(score)
            return 200, json.dumps({"id": score.get("id", "")}).encode(), "application/json"
        return super().answer(method, path, query, body)

    # Views on what arrived, for assertions.

    def traces(self) -> dict[str, list[dict]]:
        """Spans grouped by trace id."""
        with self._lock:
            spans = list(self.spans)
        grouped: dict[str, list[dict]] = {}
        for s in spans:
            grouped.setdefault(s["trace_id"], []).append(s)
        return grouped


def metadata(span: dict, prefix: str = "langfuse.observation.metadata.") -> dict:
    """The span's LangFuse metadata (observation level by default), values JSON-decoded."""
    out = {}
    for key, value in span["attributes"].items():
        if key.startswith(prefix):
            try:
                out[key[len(prefix) :]] = json.loads(value)
            except (TypeError, ValueError):
                out[key[len(prefix) :]] = value
    return out
