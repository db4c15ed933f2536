"""Bad input to the main job: one clear line, a non-zero exit, no traceback, nothing lost."""

import pytest

from prompts.manual import builtin_manual
from tests.conftest import free_port
from tests.e2e.helpers import assert_one_line_error, run_cli

pytestmark = pytest.mark.e2e


def run_graph(endpoint: str, *args: str):
    return run_cli("experiments.run_graph", "--endpoint", endpoint, "--questions", "2", "--repeats", "1", *args)


@pytest.mark.parametrize(("content", "words"), [
    (None, ["does not exist"]),
    (b"", ["is empty"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["looks binary"]),
    (b"na\xefve caf\xe9", ["not UTF-8"]),
])  # fmt: skip
def test_unusable_manual_files(stack, tmp_path, content, words):
    manual = tmp_path / "manual.txt"
    if content is not None:
        manual.write_bytes(content)
    proc = run_graph(stack.settings.endpoint, "--manual", str(manual), "--out", str(tmp_path / "run"))
    assert_one_line_error(proc, str(manual), *words)


def test_manual_too_long_for_the_context_gives_its_size_and_the_limit(stack, tmp_path):
    manual = tmp_path / "big.md"
    manual.write_text(builtin_manual()[:60_000])
    proc = run_graph(stack.settings.endpoint, "--manual", str(manual), "--out", str(tmp_path / "run"))
    line = assert_one_line_error(proc, "tokens", "--manual-tokens")
    assert "8192" not in line or "leaves" in line


def test_unreachable_endpoint(tmp_path):
    proc = run_graph(f"http://127.0.0.1:{free_port()}/v1", "--out", str(tmp_path))
    assert_one_line_error(proc, "cannot reach")


def test_malformed_endpoint(tmp_path):
    proc = run_graph("localhost:8000", "--out", str(tmp_path))
    assert_one_line_error(proc, "not an http(s) URL")


def test_endpoint_that_is_not_an_openai_server(stack, tmp_path):
    lmcache_http = f"http://127.0.0.1:{stack.settings.lmcache_http_port}/v1"
    proc = run_graph(lmcache_http, "--out", str(tmp_path))
    assert_one_line_error(proc, "not an OpenAI-compatible server")


def test_wrong_model_name_lists_the_served_ones(stack, tmp_path):
    proc = run_graph(stack.settings.endpoint, "--model", "gpt-17", "--out", str(tmp_path))
    assert_one_line_error(proc, "'gpt-17' is not served", stack.settings.served_model_name)


@pytest.mark.parametrize("args", [["--questions", "0"], ["--repeats", "-1"], ["--scenario", "nope"],
                                  ["--expect-reduction", "7"]])  # fmt: skip
def test_bad_counts_and_names(tmp_path, args):
    proc = run_cli("experiments.run_graph", "--endpoint", "http://127.0.0.1:1/v1", *args, "--out", str(tmp_path))
    assert_one_line_error(proc)


def test_unknown_layout_lists_the_valid_ones(tmp_path):
    proc = run_cli("experiments.run_graph", "--endpoint", "http://127.0.0.1:1/v1", "--out", str(tmp_path),
                   env={"LMLAB_LAYOUT": "question_first"})  # fmt: skip
    assert_one_line_error(proc, "unknown layout 'question_first'", "manual_first")


def test_bad_environment_value_names_the_variable(tmp_path):
    proc = run_cli("experiments.run_graph", "--out", str(tmp_path), env={"LMLAB_MAX_TOKENS": "lots"})
    assert_one_line_error(proc, "LMLAB_MAX_TOKENS='lots' is not an integer")


def test_unwritable_out_folder(tmp_path):
    proc = run_cli("experiments.run_graph", "--endpoint", "http://127.0.0.1:1/v1", "--out", "/proc/no-such-run")
    assert_one_line_error(proc, "cannot write the run folder", "--out")


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    proc = run_cli("experiments.run_graph", "--resume", str(tmp_path))
    assert_one_line_error(proc, "is not a run folder")


def test_lmcache_flags_the_server_rejects(tmp_path):
    from tests.e2e.test_launcher import own_stack_env

    proc = run_cli("serving", "up", env=own_stack_env(tmp_path, LMLAB_LMCACHE_L1_GIB="-1"))
    assert proc.returncode == 2 and "error: lmcache exited during start-up" in proc.stderr
