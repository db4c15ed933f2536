"""The run folder under failure: rows land as they finish, a run that measured nothing leaves
nothing, and a server that stopped mid-run is named with what was kept and how to go on."""

import pytest

from experiments.run.results import RESULTS_CSV, ResultsWriter, count_rows
from experiments.run.experiment import discard_unused_run, stopped_run_advice
from experiments.run.spec import RUN_JSON
from graphs.context import Context
from lab.errors import ServerGone, UserError
from metrics.records import CallRecord
from clients.measured import lmcache_counters
from tests.conftest import free_port

ROW = CallRecord(run_id="r", scenario="cold_hit", variant="cold", answer="two\nlines")


def test_results_csv_appears_with_the_first_row_not_before(tmp_path):
    with ResultsWriter(tmp_path) as writer:
        assert not (tmp_path / RESULTS_CSV).exists()
        writer.write(ROW)
        writer.write(ROW)
    assert count_rows(tmp_path) == 2, "an answer spanning lines is still one row"


def test_a_run_that_measured_nothing_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / RUN_JSON).write_text("{}")
    discard_unused_run(out, created=True)
    assert not out.exists()


def test_a_folder_the_user_made_stays_and_only_our_file_goes(tmp_path):
    (tmp_path / RUN_JSON).write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    discard_unused_run(tmp_path, created=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_run_with_rows_is_never_discarded(tmp_path):
    (tmp_path / RUN_JSON).write_text("{}")
    with ResultsWriter(tmp_path) as writer:
        writer.write(ROW)
    discard_unused_run(tmp_path, created=True)
    assert (tmp_path / RUN_JSON).exists() and count_rows(tmp_path) == 1


def test_after_a_server_stopped_the_advice_keeps_the_rows_and_names_resume(tmp_path):
    with ResultsWriter(tmp_path) as writer:
        writer.write(ROW)
    advice = stopped_run_advice(tmp_path, stack=None)
    assert advice == f"1 finished calls are kept in {tmp_path / RESULTS_CSV}; restart the server, then finish the run with --resume {tmp_path}"
    assert stopped_run_advice(tmp_path / "empty", stack=None) == "no call had finished; restart the server, then run again"


def test_a_configured_lmcache_server_that_does_not_answer_has_stopped():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerGone, match=f"the LMCache server at {url} stopped answering"):
        lmcache_counters(Context(lmcache_metrics_url=url).server)
    assert issubclass(ServerGone, UserError)


def test_without_an_lmcache_url_there_is_nothing_to_check():
    assert lmcache_counters(Context(lmcache_metrics_url="").server) is None
