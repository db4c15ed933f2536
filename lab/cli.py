"""What every command line of the lab does the same way: one ``error:`` line for a UserError, exit 130
on Ctrl-C or SIGTERM."""

import functools
import signal
import sys
from collections.abc import Callable

from lab.errors import UserError


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def handle_interrupts() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so a command stops the same way on either.
    SIGINT is set explicitly: a process started in the background inherits it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def command(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a ``main(argv) -> exit code``: a UserError is printed as one line and exits with its code
    (no traceback); Ctrl-C or SIGTERM unwinds the command (its ``finally`` blocks run) and exits 130."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        handle_interrupts()
        try:
            return main(argv)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return err.exit_code
        except KeyboardInterrupt as err:
            # An interrupted run says what it kept (experiments.experiment.Interrupted carries it).
            print(f"interrupted; {err}" if str(err) else "interrupted", file=sys.stderr)
            return 130

    return wrapper
