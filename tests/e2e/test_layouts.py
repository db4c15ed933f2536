"""Prompt layouts on the real stack: the friendly layout hits, the busting ones do not, and the
tokenizer's prediction matches what the cache served."""

import csv
import json

import pytest

from prompts.layouts import dynamic_part, get_layout, static_prefix
from prompts.manual import builtin_manual
from prompts.tokenizers import LocalTokenizer, ServedTokenizer
from serving.model import resolve_model_dir

pytestmark = pytest.mark.e2e

BUSTING = ["instructions_first", "timestamp_system"]


def test_the_local_model_folder_tokenizes_chat_exactly_like_the_server(stack):
    served = ServedTokenizer(stack.settings.endpoint, stack.settings.served_model_name)
    local = LocalTokenizer(resolve_model_dir(log=lambda *a: None))
    messages = get_layout("manual_first")(static_prefix(builtin_manual()[:3000]), dynamic_part("What is a lambda?"))
    assert local.chat_ids(messages) == served.chat_ids(messages)
    assert local.context_len == served.context_len == 8192


def test_manual_first_hits_where_the_busting_layouts_recompute_and_the_prediction_holds(layouts_run):
    proc, tmp_path = layouts_run  # the session's one layouts run (tests/conftest.py)
    assert proc.returncode == 0, proc.stderr
    assert "check: PASS" in proc.stdout and "predicted" in proc.stdout

    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["variant"] for r in rows] == ["manual_first"] * 4 + BUSTING[:1] * 4 + BUSTING[1:] * 4
    for r in rows:
        observed, predicted = int(r["cached_tokens"]), int(r["predicted_cached_tokens"])
        assert abs(observed - predicted) <= 256 and not r["cache_note"], r
        if r["variant"] == "manual_first" and r["question_id"] != "0":
            assert observed == predicted > 0
            assert int(r["shared_prefix_tokens"]) >= int(r["static_prefix_tokens"])
            assert "Question:" in r["first_difference"] and "⟦" in r["first_difference"]

    summary = json.loads((tmp_path / "summary.json").read_text())["scenarios"]["layouts"]
    layouts = summary["comparison"]["layouts"]
    friendly = layouts["manual_first"]
    assert summary["passed"] is True and summary["prediction_mismatches"] == 0
    assert friendly["hit_rate_mean"] >= 0.9
    for name in BUSTING:
        assert layouts[name]["hit_rate_mean"] <= 0.1
        assert friendly["hit_rate_mean"] - layouts[name]["hit_rate_mean"] >= 0.8
        assert friendly["ttft_median_ms"] < 0.5 * layouts[name]["ttft_median_ms"]
