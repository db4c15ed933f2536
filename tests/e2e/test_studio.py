"""LangGraph Studio: the repository's own langgraph.json serves the qa and agent graphs through ``langgraph dev``.

Studio is a hosted page over this local API, so the test drives the API the way Studio does
(``langgraph_sdk``): find the assistant, read its context inputs, open a thread, stream a run.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from langgraph_sdk import get_client

from tests.conftest import free_port
from tests.e2e.helpers import ROOT

QUESTIONS = ["What does assert do?", "What is a lambda?"]


def start_dev_server(tmp_path) -> tuple[subprocess.Popen, list[str]]:
    """``langgraph dev`` on the root langgraph.json, run from a scratch folder (its state goes there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}  # untraced: no keys
    env.update({"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true",
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "langgraph_cli", "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
         "--port", str(free_port()), "--config", str(ROOT / "langgraph.json")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True).start()
    return server, lines


async def reported_url(server: subprocess.Popen, lines: list[str], timeout: float = 120) -> str:
    """The API's address as the server prints it: it moves to another port when the asked one is taken."""
    for _ in range(int(timeout * 2)):
        for line in list(lines):
            # The URL comes wrapped in colour codes.
            if m := re.search(r"API:.*?(http://127\.0\.0\.1:\d+)", line):
                client = get_client(url=m.group(1))
                try:
                    await client.assistants.search()
                    return m.group(1)
                except Exception:
                    pass
        if server.poll() is not None:
            raise AssertionError("langgraph dev exited:\n" + "".join(lines[-30:]))
        await asyncio.sleep(0.5)
    raise AssertionError("langgraph dev did not come up:\n" + "".join(lines[-30:]))


async def stream_calls(client, graph_id: str, questions: list[str], context: dict) -> list[dict]:
    """Run ``graph_id`` on a new thread as Studio does; the call records of its final state."""
    thread = await client.threads.create()
    last = None
    async for chunk in client.runs.stream(
        thread["thread_id"], graph_id, input={"questions": questions, "manual_edition": uuid.uuid4().hex},
        context=context, stream_mode="values",
    ):  # fmt: skip
        assert chunk.event != "error", chunk.data
        if chunk.event == "values":
            last = chunk.data
    return last["calls"]


def test_root_langgraph_json_serves_both_graphs_with_their_context_inputs(stack, tmp_path):
    graphs = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert graphs == {"qa": "graphs.studio:traced_graph", "agent": "graphs.studio:traced_agent_graph",
                      "tool_loop": "graphs.studio:traced_tool_loop_graph"}
    server, lines = start_dev_server(tmp_path)
    context = {"endpoint": stack.settings.endpoint, "manual_tokens": 600, "max_tokens": 4,
               "lmcache_metrics_url": next(iter(stack.settings.lmcache_urls()))}  # fmt: skip

    async def drive() -> tuple[dict, list[dict], list[dict]]:
        client = get_client(url=await reported_url(server, lines))
        assistants = {a["graph_id"]: a for a in await client.assistants.search()}
        assert {"qa", "agent"} <= set(assistants)
        schemas = await client.assistants.get_schemas(assistants["qa"]["assistant_id"])
        qa = await stream_calls(client, "qa", QUESTIONS, context)
        agent = await stream_calls(client, "agent", QUESTIONS[:1], context | {"agent_layout": "shared_prefix"})
        return schemas, qa, agent

    try:
        schemas, calls, agent_calls = asyncio.run(drive())
    finally:
        server.terminate()
        server.wait(30)

    # Studio shows the Context fields as the run's inputs, each with its help text.
    inputs = schemas["context_schema"]["properties"]
    assert {"endpoint", "model", "layout", "manual_tokens", "max_tokens"} <= set(inputs)
    assert "vLLM" in inputs["endpoint"]["description"]
    # The answer and the per-call cache record come back; the second question reuses the manual.
    assert [c["question"] for c in calls] == QUESTIONS
    assert all(c["answer"] and c["ttft_ms"] > 0 and c["prompt_tokens"] > 0 for c in calls)
    assert calls[0]["cached_tokens"] == 0 and calls[1]["cached_tokens"] >= 256
    assert calls[1]["lmcache_hit_tokens"] > 0  # served by LMCache: vLLM's own prefix cache is off
    assert {c["node"] for c in calls} == {"generate"}
    # The agent graph: three nodes per question over one manual; under shared_prefix only the first is cold.
    assert [c["node"] for c in agent_calls][:3] == ["plan", "answer", "check"]
    assert agent_calls[0]["cached_tokens"] == 0
    assert all(c["cached_tokens"] >= 256 and c["layout"] == "shared_prefix" for c in agent_calls[1:])


def test_make_studio_names_the_port_it_really_serves_on_when_2024_is_taken():
    # 2024 held here (or already taken by someone else): langgraph dev moves, and make studio must say where.
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 2024))
        held.listen()
    except OSError:
        pass  # taken already: the same case
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "LMLAB_HOST", "STUDIO_PORT"))}
    make = subprocess.Popen(["make", "--no-print-directory", "studio"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(make.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 300
        while not (said := [line for line in lines if "is serving on" in line]):
            assert make.poll() is None and time.monotonic() < deadline, "make studio never said where it serves:\n" + "".join(lines[-30:])
            time.sleep(0.5)
        url = re.search(r"serving on (http://127\.0\.0\.1:(\d+))", said[0])
        assert url and url.group(2) != "2024" and "(port 2024 was taken)" in said[0], said[0]
        assert f"baseUrl={url.group(1)}" in said[0]  # the Studio link points at the same API
        with urllib.request.urlopen(f"{url.group(1)}/ok", timeout=10) as resp:
            assert resp.status == 200
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            make.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
        held.close()
