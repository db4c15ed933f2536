"""``make studio`` names the URL its API really serves on, found from the ports its processes listen on."""

import os
import socket
import subprocess
import sys

from lab.studio import listening_ports, served_url, serving_line
from tests.conftest import free_port

OK_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 404); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_the_line_names_the_url_and_a_move_off_the_asked_port():
    assert serving_line("http://127.0.0.1:2024", 2024) == (
        "LangGraph Studio's API is serving on http://127.0.0.1:2024; Studio: https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:2024")
    assert "serving on http://127.0.0.1:40111 (port 2024 was taken)" in serving_line("http://127.0.0.1:40111", 2024)


def test_the_ports_a_process_listens_on_are_found():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert s.getsockname()[1] in listening_ports(os.getpid())


def test_the_served_url_is_the_port_that_answers_not_the_one_asked_for():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", OK_SERVER, str(port)])
    try:
        assert served_url(server, "127.0.0.1", timeout_s=30) == f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


def test_a_server_that_exits_first_has_no_url():
    server = subprocess.Popen([sys.executable, "-c", "pass"])
    server.wait()
    assert served_url(server, "127.0.0.1", timeout_s=5) is None
