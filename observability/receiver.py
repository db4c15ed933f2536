"""A local stand-in for LangFuse's ingestion endpoints, for tests and the tracing benchmark.

No LangFuse server can run here (it needs Postgres, ClickHouse, Redis and S3), so this small HTTP
server receives what the real SDK sends and decodes it:

- ``POST /api/public/otel/v1/traces``: OTLP/HTTP protobuf (gzip or not), one span per observation.
- ``POST /api/public/ingestion``: JSON event batches; langfuse 4.x sends scores here (``score-create``).
- ``POST /api/public/scores``: one JSON score; where later SDKs send scores.

Spans are kept as plain dicts: ids in hex, ``attributes`` as Python values.
"""

import gzip
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OTLP_PATH = "/api/public/otel/v1/traces"
INGESTION_PATH = "/api/public/ingestion"
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
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for rs in request.resource_spans:
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


class LangfuseReceiver:
    """``with LangfuseReceiver() as r:`` serves on a free local port at ``r.url`` until the block ends."""

    def __init__(self):
        self.spans: list[dict] = []
        self.scores: list[dict] = []  # score bodies, from either endpoint
        self.events: list[dict] = []  # every ingestion event, scores included
        self.requests: list[tuple[str, dict]] = []  # (path, headers) of every request
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                path = self.path.split("?")[0]
                with receiver._lock:
                    receiver.requests.append((path, dict(self.headers)))
                if path == OTLP_PATH:
                    spans = decode_spans(body)
                    with receiver._lock:
                        receiver.spans.extend(spans)
                    self._answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")
                elif path == INGESTION_PATH:
                    batch = json.loads(body).get("batch", [])
                    with receiver._lock:
                        receiver.events.extend(batch)
                        receiver.scores.extend(e["body"] for e in batch if e.get("type") == "score-create")
                    ok = [{"id": e.get("id"), "status": 201} for e in batch]
                    self._answer(207, json.dumps({"successes": ok, "errors": []}).encode(), "application/json")
                elif path == SCORES_PATH:
                    score = json.loads(body)
                    with receiver._lock:
                        receiver.scores.append(score)
                    self._answer(200, json.dumps({"id": score.get("id", "")}).encode(), "application/json")
                else:
                    self._answer(404, b"{}", "application/json")

            def _answer(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler

    def __enter__(self) -> "LangfuseReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

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


class BlackHole:
    """A port that accepts TCP connections and never answers: the worst case for a flush."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)  # the kernel completes handshakes; nobody ever reads
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> "BlackHole":
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()


def refused_url() -> str:
    """A URL on a port where nothing listens: every connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
