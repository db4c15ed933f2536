"""hit_spread's figures from a recorded-shape run folder: a cold_hit results.csv and LMCache's Stored lines."""

import csv
from datetime import datetime, timezone

from experiments.gpu.hit_spread import collect

T0 = datetime(2026, 12, 2, 4, 57, 47, tzinfo=timezone.utc).timestamp()
# LMCache's line as vLLM logs it, colours included (one chunk of the cold call's prefill).
STORED = ("(EngineCore pid=1314) \x1b[32;20m[2026-12-02 04:57:{s}] LMCache INFO:\x1b[0m [req_id=chatcmpl-90dcdc81a5fa109a-9c021471] "
          "Stored 8192 out of total 8192 tokens. size: 1.0000 GB, cost 47.6552 ms, throughput: 20.9841 GB/s\n")  # fmt: skip


def write_run(folder):
    rows = [  # repeat 0: cold at T0 (TTFT 1.4 s), then hits; each call's end to the next start: 300 ms
        ("cold", 0, 0, 0.0, 1400.0, 1500.0),
        ("hit", 0, 1, 1.8, 200.0, 270.0),
        ("hit", 0, 2, 2.37, 210.0, 280.0),
    ]
    (folder / "cold_hit-31000").mkdir(parents=True)
    with open(folder / "cold_hit-31000" / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["variant", "repeat", "question_id", "started_at", "ttft_ms", "total_ms"])
        w.writeheader()
        for variant, repeat, qid, offset, ttft, total in rows:
            w.writerow({"variant": variant, "repeat": repeat, "question_id": qid, "started_at": T0 + offset, "ttft_ms": ttft, "total_ms": total})
    (folder / "vllm-gpu.log").write_text(STORED.format(s="48,000") + STORED.format(s="48,370") + "(APIServer) unrelated line\n")


def test_figures_of_one_size(tmp_path):
    write_run(tmp_path)
    got = collect(tmp_path)["31000"]
    assert got["hits"] == 2 and got["hit_median_ms"] == 205.0 and got["hit_range_ms"] == [200.0, 210.0]
    assert got["first_hit_median_ms"] == 200.0 and got["later_hits_median_ms"] == 210.0 and got["cold_median_ms"] == 1400.0
    assert got["hit_decode_median_ms"] == 70.0  # total - TTFT
    assert got["between_calls_median_ms"] == 300.0
    # The last store (04:57:48.370) came 30 ms before the cold call's first token (T0 + 1.4 s), 430 ms before the first hit.
    assert got["stores"] == [{"last_store_vs_cold_first_token_ms": -30.0, "first_hit_after_last_store_ms": 430.0}]


def test_no_log_no_store_figures(tmp_path):
    write_run(tmp_path)
    (tmp_path / "vllm-gpu.log").unlink()
    assert collect(tmp_path)["31000"]["stores"] == []
