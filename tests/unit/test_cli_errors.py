"""A bad command-line argument is refused like any other bad input: one ``error:`` line, exit 2."""

import pytest

from lab.cli import ArgumentParser


def test_an_argument_of_the_wrong_type_is_one_error_line_and_exit_2(capsys):
    parser = ArgumentParser(prog="python -m lab-demo")
    parser.add_argument("--questions", type=int)
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--questions", "abc"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: argument --questions: invalid int value: 'abc'; see python -m lab-demo --help\n"
