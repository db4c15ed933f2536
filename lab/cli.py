"""What every command line of the lab does the same way: one ``error:`` line for a UserError, exit 130
on Ctrl-C or SIGTERM, and no call cut off mid-flight on a server that others share."""

import argparse
import functools
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from lab.errors import UserError


BUG_EXIT = 70  # EX_SOFTWARE from sysexits.h


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad argument refused like every other bad input: one ``error:`` line and
    exit 2, instead of argparse's usage block (``--help`` still shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def handle_interrupts() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so a command stops the same way on either.
    SIGINT is set explicitly: a process started in the background inherits it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def command(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a ``main(argv) -> exit code``: a UserError is printed as one line and exits with its code
    (no traceback); Ctrl-C or SIGTERM unwinds the command (its ``finally`` blocks run) and exits 130.
    Anything else is a bug in the lab: its traceback, and exit 70 (EX_SOFTWARE), so that it is never
    read as exit 1, a missed pass mark."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        handle_interrupts()
        try:
            return main(argv)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return err.exit_code
        except KeyboardInterrupt as err:
            # An interrupted run says what it kept (experiments.run.experiment.Interrupted carries it).
            print(f"interrupted; {err}" if str(err) else "interrupted", file=sys.stderr)
            return 130
        except Exception:
            traceback.print_exc()
            print(f"error: a bug in the lab, not in your input (exit {BUG_EXIT}); please report it with the traceback above", file=sys.stderr)
            return BUG_EXIT

    return wrapper


@contextmanager
def finish_the_call_in_flight(enabled: bool = True) -> Iterator[Callable[[], None]]:
    """While the servers outlive this command (``--endpoint``, ``--keep-stack``, a reused stack), the
    first Ctrl-C or SIGTERM does not cut the call in flight: aborting a request while LMCache moves
    its KV can kill vLLM's engine (vllm-project/vllm#43226), and with it everyone's server. It is
    noted instead, and the command stops at the next ``stop_if_asked()`` (after a finished call) or
    when the block ends. A second signal stops at once. Disabled: signals act at once, as always."""
    if not enabled or threading.current_thread() is not threading.main_thread():  # only main sets handlers
        yield lambda: None
        return
    asked = threading.Event()

    def note(*_) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()
        print("stopping after the call in flight, so the shared server is not hurt; "
              "press Ctrl-C again to stop at once", file=sys.stderr)  # fmt: skip

    def stop_if_asked() -> None:
        if asked.is_set():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, note), signal.signal(signal.SIGTERM, note)
    try:
        yield stop_if_asked
        stop_if_asked()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
