"""The manual is measured against the context before any server starts, by the node's own rule."""

from dataclasses import replace

import pytest

from experiments.run import manual_fit
from experiments.run.manual_fit import check_manual_fits, manual_problem
from experiments.run.spec import RunSpec
from graphs.context import Context
from lab.errors import UserError
from serving.settings import StackSettings


def count(manual: str) -> int:
    """A stand-in tokenizer: the system text is 50 tokens, the manual one token per word."""
    return 50 + len(manual.split())


def test_your_own_manual_too_long_for_the_context_is_named_with_its_size(tmp_path):
    manual = tmp_path / "big.md"
    manual.write_text("word " * 9000)
    problem = manual_problem(replace(Context(), manual_path=str(manual), max_tokens=32), 8192, count)
    assert problem == (f"manual {manual} is 9000 tokens; with the system text it needs 9050 of the 7904 tokens the context "
                       "leaves after the question and answer; shorten it or pass --manual-tokens N to cut it")  # fmt: skip


def test_your_own_manual_that_fits_or_is_cut_is_no_problem(tmp_path):
    manual = tmp_path / "small.md"
    manual.write_text("word " * 100)
    assert manual_problem(replace(Context(), manual_path=str(manual)), 8192, count) is None
    (tmp_path / "big.md").write_text("word " * 9000)
    cut = replace(Context(), manual_path=str(tmp_path / "big.md"), truncate_manual=True, manual_tokens=4000)
    assert manual_problem(cut, 8192, count) is None


def test_a_budget_larger_than_the_context_is_refused():
    assert "a manual of 9000 tokens does not fit" in manual_problem(replace(Context(), manual_tokens=9000), 8192, count)
    assert manual_problem(replace(Context(), manual_tokens=4000), 8192, count) is None


def test_the_check_raises_before_anything_starts(monkeypatch):
    monkeypatch.setattr(manual_fit, "local_counter", lambda stack, log: count)
    with pytest.raises(UserError, match="a manual of 9000 tokens does not fit"):
        check_manual_fits(RunSpec.build(scenario="cold_hit", manual_tokens=9000, env={}))
    check_manual_fits(RunSpec.build(scenario="cold_hit", env={}))  # the default budget fits


def test_no_local_count_against_another_server_or_for_a_scenario_that_picks_its_sizes(monkeypatch):
    def never(stack, log):
        raise AssertionError("counted")

    monkeypatch.setattr(manual_fit, "local_counter", never)
    check_manual_fits(RunSpec.build(scenario="cold_hit", endpoint="http://127.0.0.1:1/v1", manual_tokens=9000, env={}))
    check_manual_fits(RunSpec.build(scenario="sweep", manual_tokens=9000, env={}))


def test_a_manual_whose_bytes_fit_is_not_counted(tmp_path, monkeypatch):
    """No tokenizer makes more tokens than bytes: a manual whose bytes fit needs no tokenizer (seconds saved on every run)."""
    def never(stack, log):
        raise AssertionError("counted")

    monkeypatch.setattr(manual_fit, "local_counter", never)
    check_manual_fits(RunSpec.build(scenario="cold_hit", env={}))  # the built-in manual at its default budget
    small = tmp_path / "small.md"
    small.write_text("word " * 1000)  # 5,000 bytes
    check_manual_fits(RunSpec.build(scenario="cold_hit", manual=str(small), env={}))
    (tmp_path / "big.md").write_text("word " * 2000)  # 10,000 bytes: may not fit, so it is counted
    with pytest.raises(AssertionError, match="counted"):
        check_manual_fits(RunSpec.build(scenario="cold_hit", manual=str(tmp_path / "big.md"), env={}))


def test_a_model_folder_the_tokenizer_cannot_read_is_left_to_the_launcher(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}')
    assert manual_fit.local_counter(replace(StackSettings(), model_dir=str(tmp_path)), log=lambda *a: None) is None
