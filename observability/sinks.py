"""Places for the tracing benchmark to send LangFuse traces to: one that takes everything, one that
never answers, one that refuses.

``AcceptAll`` is a small local HTTP server answering the SDK's export endpoints as LangFuse does
(OTLP spans, score batches) and counting what arrives; the tests' receiver
(``tests/langfuse_receiver.py``) builds on it to decode and validate everything.
"""

import gzip
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OTLP_PATH = "/api/public/otel/v1/traces"
INGESTION_PATH = "/api/public/ingestion"


def otlp_request(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


class AcceptAll:
    """``with AcceptAll() as sink:`` serves on a free local port at ``sink.url`` until the block ends,
    taking every export. Subclasses answer more paths by overriding ``answer``."""

    def __init__(self):
        self.span_count = 0
        self.score_count = 0
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers) of every request
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, method: str, path: str, query: dict, body: bytes) -> tuple[int, bytes, str]:
        """(status, payload, content type) for one request; ``body`` is already un-gzipped."""
        if method == "POST" and path == OTLP_PATH:
            request = otlp_request(body)
            with self._lock:
                self.span_count += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            return 200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
        if method == "POST" and path == INGESTION_PATH:
            batch = json.loads(body).get("batch", [])
            with self._lock:
                self.score_count += sum(e.get("type") == "score-create" for e in batch)
            ok = [{"id": e.get("id"), "status": 201} for e in batch]
            return 207, json.dumps({"successes": ok, "errors": []}).encode(), "application/json"
        return 404, b'{"message": "not found"}', "application/json"

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                parts = urlsplit(self.path)
                with sink._lock:
                    sink.requests.append((self.command, parts.path, dict(self.headers)))
                try:
                    status, payload, kind = sink.answer(self.command, parts.path, parse_qs(parts.query), body)
                except Exception as err:  # a test receiver's check failed: answer, and let the test see it
                    status, payload, kind = 500, json.dumps({"message": str(err)}).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):  # keep the output clean
                pass

        return Handler

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


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
