"""LangFuse settings and per-call labels: what turns tracing on, and what each call is tagged with."""

import ast
from pathlib import Path

from observability.calls import call_labels
from observability.settings import DEFAULT_BASE_URL, from_env, shown_url
from observability.tracing import Tracing, elide_long_text

KEYS = {"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-very-secret"}


def test_no_keys_means_off_with_a_hint_not_a_warning():
    verdict = from_env({})
    assert verdict.settings is None and not verdict.warning
    assert (
        verdict.notice
        == "LangFuse tracing off: set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL to trace runs"
    )


def test_keys_turn_tracing_on_at_the_base_url_or_the_older_host_or_langfuse_cloud():
    assert from_env({**KEYS, "LANGFUSE_BASE_URL": "http://lf.local:3000/"}).settings.base_url == "http://lf.local:3000"
    assert (
        from_env({**KEYS, "LANGFUSE_HOST": "https://eu.cloud.langfuse.com"}).settings.base_url
        == "https://eu.cloud.langfuse.com"
    )
    assert (
        from_env({**KEYS, "LANGFUSE_BASE_URL": "http://a:1", "LANGFUSE_HOST": "http://b:2"}).settings.base_url
        == "http://a:1"
    )
    assert from_env(KEYS).settings.base_url == DEFAULT_BASE_URL


def test_one_key_without_the_other_is_a_warning_naming_the_missing_one():
    verdict = from_env({"LANGFUSE_PUBLIC_KEY": "pk-lf-1"})
    assert verdict.settings is None and verdict.warning
    assert "LANGFUSE_SECRET_KEY is not" in verdict.notice and "untraced" in verdict.notice
    assert "LANGFUSE_PUBLIC_KEY is not" in from_env({"LANGFUSE_SECRET_KEY": "sk"}).notice


def test_a_malformed_url_stops_a_run_and_is_a_warning_elsewhere():
    for url in ("cloud.langfuse.com", "ftp://host", "http://", "http://host:port"):
        verdict = from_env({**KEYS, "LANGFUSE_BASE_URL": url})
        assert verdict.settings is None and verdict.warning, url
        assert "LANGFUSE_BASE_URL" in verdict.notice
        assert verdict.error.startswith(f"LANGFUSE_BASE_URL={url!r}") and "unset LANGFUSE_PUBLIC_KEY" in verdict.error


def test_only_a_malformed_url_is_an_error():
    assert from_env({"LANGFUSE_PUBLIC_KEY": "pk-lf-1"}).error is None
    assert from_env({**KEYS, "LANGFUSE_BASE_URL": "http://lf.local:3000"}).error is None


def test_tracing_can_be_switched_off_explicitly():
    assert from_env({**KEYS, "LANGFUSE_TRACING_ENABLED": "false"}).settings is None


def test_secrets_never_show():
    verdict = from_env({**KEYS, "LANGFUSE_BASE_URL": "https://user:pw@lf.example.com"})
    assert "sk-lf-very-secret" not in repr(verdict) and "pw" not in verdict.notice
    assert shown_url("https://user:pw@lf.example.com:8443/x") == "https://lf.example.com:8443/x"


def test_untraced_runs_keep_their_config_and_flush_nothing():
    tracing = Tracing.from_env("run-1", {})
    config = {"metadata": {"scenario": "cold_hit"}}
    assert not tracing.enabled and tracing.apply(config) is config and tracing.flush() is None
    assert tracing.info() == {"enabled": False, "base_url": None, "session_id": None, "notice": tracing.notice}


def test_each_call_is_labelled_with_its_scenario_and_its_question_variant():
    meta = {"scenario": "cold_hit", "variants": ["cold", "hit", "hit"]}
    assert call_labels(meta, 0) == {"scenario": "cold_hit", "variant": "cold"}
    assert call_labels(meta, 2) == {"scenario": "cold_hit", "variant": "hit"}
    assert call_labels({"scenario": "layouts", "variant": "manual_first"}, 4)["variant"] == "manual_first"
    # A graph run from Studio carries no labels.
    assert call_labels({}, 0) == {"scenario": "", "variant": ""}


def test_traces_keep_the_ends_of_long_texts_and_short_ones_whole():
    manual = "start " + "x" * 20_000 + " end"
    messages = [{"role": "system", "content": manual}, {"role": "user", "content": "Why?"}]
    masked = elide_long_text(data={"messages": messages})
    system, user = masked["messages"]
    assert system["content"].startswith("start ") and system["content"].endswith(" end")
    assert "characters elided in the trace" in system["content"] and len(system["content"]) < 2_200
    assert user == {"role": "user", "content": "Why?"}


def test_the_graph_and_its_nodes_never_import_tracing():
    root = Path(__file__).resolve().parents[2]
    for path in [*sorted((root / "nodes").glob("*.py")), root / "graphs" / "graph.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
            assert not any(n.split(".")[0] in ("observability", "langfuse") for n in names), (path, names)
