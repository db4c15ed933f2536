"""Ctrl-C and SIGTERM while the servers are shared: the call in flight finishes, then the command stops."""

import os
import signal

import pytest

from lab.cli import finish_the_call_in_flight, handle_interrupts


@pytest.fixture(autouse=True)
def _command_handlers():
    handle_interrupts()
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_lets_the_call_finish_and_stops_after_it(signum, capsys):
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with finish_the_call_in_flight() as stop_if_asked:
            os.kill(os.getpid(), signum)  # arrives in the middle of a call
            finished.append("the call")
            stop_if_asked()
            finished.append("the next call")
    assert finished == ["the call"]
    assert "stopping after the call in flight" in capsys.readouterr().err


def test_a_second_signal_stops_at_once():
    with pytest.raises(KeyboardInterrupt):
        with finish_the_call_in_flight():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("the second Ctrl-C did not stop the call")


def test_a_signal_during_the_last_call_stops_when_the_block_ends():
    with pytest.raises(KeyboardInterrupt):
        with finish_the_call_in_flight():
            os.kill(os.getpid(), signal.SIGTERM)


def test_disabled_when_the_servers_stop_with_the_command_and_handlers_restored_after():
    with pytest.raises(KeyboardInterrupt):
        with finish_the_call_in_flight(enabled=False):
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("a signal must stop at once when no server outlives the command")
    with finish_the_call_in_flight():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_bug_exits_70_with_its_traceback_never_1_which_means_a_missed_pass_mark(capsys):
    from lab.cli import command

    @command
    def main(argv):
        raise ValueError("cannot convert float NaN to integer")

    assert main([]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError" in err and "a bug in the lab" in err
