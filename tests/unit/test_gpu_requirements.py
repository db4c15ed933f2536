"""requirements-gpu.txt, read as fetch_wheels.sh reads it: one NAME==VERSION per wheel, comments
(inline ones too) ignored as pip ignores them, anything else refused before a download starts."""

from pathlib import Path

import pytest

from experiments.gpu.requirements import main, parse_requirements
from lab.errors import UserError

REQUIREMENTS = Path(__file__).parent.parent.parent / "requirements-gpu.txt"


def test_the_committed_file_parses_into_pinned_wheels():
    pins = parse_requirements(REQUIREMENTS.read_text())
    names = [name for name, _ in pins]
    assert ("vllm", "0.26.0") in pins and ("lmcache", "0.5.3") in pins
    assert ("truststore", "0.10.5") in pins  # the line with an inline comment that broke the script
    assert len(names) == len(set(names))  # two versions of one wheel stop the whole install


def test_inline_and_full_line_comments_are_dropped_as_pip_drops_them():
    text = "# engine\n\nvllm==0.26.0\ntruststore==0.10.5  # httpcore2 imports it\n  \n"
    assert parse_requirements(text) == [("vllm", "0.26.0"), ("truststore", "0.10.5")]


@pytest.mark.parametrize("line", ["vllm>=0.26", "lmcache[redis]==0.5.3", "--index-url https://x", "vllm"])
def test_anything_but_an_exact_pin_is_refused_with_its_line_number(line):
    with pytest.raises(
        UserError, match=rf"gpu.txt:2: '{line}' is not NAME==VERSION".replace("[", r"\[").replace("]", r"\]")
    ):
        parse_requirements(f"# first\n{line}\n", "gpu.txt")


def test_the_command_prints_one_pin_per_line_and_refuses_a_missing_file(capsys, tmp_path):
    (tmp_path / "r.txt").write_text("a==1  # why\nb==2\n")
    assert main([str(tmp_path / "r.txt")]) == 0
    assert capsys.readouterr().out == "a==1\nb==2\n"
    assert main([str(tmp_path / "missing.txt")]) == 2
    assert "error: cannot read" in capsys.readouterr().err
