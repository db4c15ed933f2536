"""What the launcher says when a server dies at start-up: the server's own complaint, on one line."""

from serving.logs import log_complaint

LMCACHE_LOG = """
=== 2026-11-27 10:00:00 python -m lmcache.v1.multiprocess.http_server --l1-size-gb 2
ValueError: an older start's complaint
=== 2026-11-27 10:05:00 python -m lmcache.v1.multiprocess.http_server --l1-size-gb -1
Traceback (most recent call last):
  File "shared_memory.py", line 77, in __init__
    raise ValueError("'size' must be a positive integer")
ValueError: 'size' must be a positive integer

ERROR:    Application startup failed. Exiting.
"""


def test_the_last_exception_and_what_follows_it_without_the_stack_frames(tmp_path):
    log = tmp_path / "lmcache.log"
    log.write_text(LMCACHE_LOG)
    assert log_complaint(str(log)) == "ValueError: 'size' must be a positive integer | ERROR:    Application startup failed. Exiting."


def test_without_an_exception_the_last_line_of_this_start(tmp_path):
    log = tmp_path / "vllm.log"
    log.write_text("=== start\nloading weights\nKilled\n")
    assert log_complaint(str(log)) == "Killed"


def test_a_long_complaint_is_cut_and_a_missing_log_said(tmp_path):
    log = tmp_path / "vllm.log"
    log.write_text("RuntimeError: " + "x" * 1000 + "\n")
    assert len(log_complaint(str(log))) == 400 and log_complaint(str(log)).endswith("...")
    assert log_complaint(str(tmp_path / "none.log")) == "(no log)"
