"""Errors a user can fix. Command-line entry points print them as one line and exit non-zero."""


class UserError(Exception):
    """Something the user can fix: bad input, a busy port, a server that would not start.

    The message says what is wrong and how to fix it; entry points print it without a traceback.
    """

    exit_code = 2


class ServerGone(UserError):
    """A server stopped answering in the middle of a run. The message names the server; the run
    adds what it kept and how to finish it (``--resume``)."""
