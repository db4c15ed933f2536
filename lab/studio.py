"""``python -m lab.studio HOST PORT``: ``make studio``'s LangGraph API, and the URL it really serves on.

``langgraph dev`` takes another port when the one asked for is taken (a warning in its log); this
starts it, finds the port its processes listen on once the API answers there, and prints that URL
and Studio's on one line of its own, naming the move. Off loopback it refuses to start without
LMLAB_API_KEY (``lab.exposure``). Ctrl-C stops the server.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil

from lab.cli import command
from lab.errors import UserError
from lab.exposure import require_key_off_loopback

STUDIO = "https://smith.langchain.com/studio/?baseUrl="  # the hosted page; it talks to the local API from the browser
START_TIMEOUT_S = 300


def listening_ports(pid: int) -> list[int]:
    """The TCP ports a process and its children listen on (uvicorn's reloader binds in the parent)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    ports = set()
    for proc in procs:
        try:
            ports |= {c.laddr.port for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sorted(ports)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def served_url(server: subprocess.Popen, host: str, timeout_s: float = START_TIMEOUT_S) -> str | None:
    """The API's URL once it answers on a port the server listens on; None when it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        for port in listening_ports(server.pid):
            if answers(url := f"http://{host}:{port}"):
                return url
        time.sleep(0.5)
    return None


def serving_line(url: str, asked: int) -> str:
    moved = "" if url.endswith(f":{asked}") else f" (port {asked} was taken)"
    return f"LangGraph Studio's API is serving on {url}{moved}; Studio: {STUDIO}{url}"


@command
def main(argv: list[str] | None = None) -> int:
    host, port = argv if argv is not None else sys.argv[1:]
    require_key_off_loopback(host, os.environ.get("LMLAB_API_KEY", ""), "LangGraph Studio's API")
    langgraph = os.path.join(os.path.dirname(sys.executable), "langgraph")
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}  # nothing phones home
    server = subprocess.Popen([langgraph, "dev", "--no-browser", "--host", host, "--port", port], env=env)
    try:
        url = served_url(server, host)
        if url is None and server.poll() is None:
            raise UserError(f"langgraph dev did not answer within {START_TIMEOUT_S} s; see its log above")
        if url is not None:
            print(serving_line(url, int(port)), flush=True)
        return server.wait()
    finally:
        stop(server)  # Ctrl-C, SIGTERM or a server that never answered: it goes with us


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends it: uvicorn shuts down cleanly
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

if __name__ == "__main__":
    sys.exit(main())
