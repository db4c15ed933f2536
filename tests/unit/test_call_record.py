"""The call record is the one place a per-call figure is declared: a field added to it reaches
results.csv, the per-variant summary and the trace metadata with no other edit."""

from dataclasses import field, make_dataclass

from experiments.run.results import ResultsWriter, load_results
from experiments.analysis.summary import variant_table
from metrics.records import SUMMARY, CallRecord, columns, trace_metadata


def test_a_new_field_reaches_results_csv_the_summary_and_the_trace(tmp_path):
    # As if someone added `kv_load_ms: float | None = _col(summary="median")` to CallRecord.
    Extended = make_dataclass("Extended", [("kv_load_ms", float | None, field(default=None, metadata={SUMMARY: "median"}))],
                              bases=(CallRecord,), frozen=True, kw_only=True)  # fmt: skip
    calls = [Extended(scenario="cold_hit", variant=v, session="s", question_id=i, ttft_ms=t, prompt_tokens=100,
                      cached_tokens=c, kv_load_ms=k).with_hits(None)
             for i, (v, t, c, k) in enumerate([("cold", 900.0, 0, 0.0), ("hit", 90.0, 96, 40.0), ("hit", 110.0, 96, 60.0)])]  # fmt: skip
    with ResultsWriter(tmp_path) as writer:
        for call in calls:
            writer.write(call)

    df = load_results(tmp_path)
    assert list(df["kv_load_ms"]) == [0.0, 40.0, 60.0]
    table = variant_table(df, Extended).set_index("variant")
    assert table.loc["hit", "kv_load_ms"] == 50.0
    assert trace_metadata(calls[1])["kv_load_ms"] == 40.0


def test_an_older_run_folder_loads_with_the_newer_columns_empty(tmp_path):
    (tmp_path / "results.csv").write_text(
        "run_id,scenario,variant,repeat,session,question_id,ttft_ms,prompt_tokens,cached_tokens,hit_rate\n"
        "r,cold_hit,cold,0,s,0,900,100,0,0.0\n"
    )
    df = load_results(tmp_path)
    assert set(columns()) <= set(df.columns)
    assert df["node"].isna().all() and df["manual_tokens"].isna().all()


def test_long_texts_stay_out_of_the_trace_metadata():
    meta = trace_metadata(CallRecord(answer="a long answer", answer_logprobs="[...]", ttft_ms=1.0))
    assert "answer" not in meta and "answer_logprobs" not in meta and meta["ttft_ms"] == 1.0
