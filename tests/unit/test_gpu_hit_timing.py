"""hit_timing's pattern (hits at once after the cold call, then after a pause) and its CPU shares,
with the graph, the server and the clock replaced: the GPU run is the only place it meets vLLM."""

from experiments.gpu import hit_timing
from graphs.context import Context
from metrics.records import CallRecord


class FakeGraph:
    def calls(self, session, config):
        for i in range(len(session.questions)):
            yield CallRecord(question_id=i, question=session.questions[i], ttft_ms=1000.0 if i == 0 else 100.0 + i,
                             prompt_tokens=31000, device_hit_tokens=0 if i == 0 else 30976)  # fmt: skip


class FakeBare:
    def prompts(self, session):
        return [(i, [{"role": "user", "content": q}], 0) for i, q in enumerate(session.questions)]


def test_hits_at_once_then_after_a_pause(monkeypatch):
    sleeps = []
    monkeypatch.setattr(hit_timing, "QA_GRAPH", FakeGraph())
    monkeypatch.setattr(hit_timing, "BARE", FakeBare())
    monkeypatch.setattr(hit_timing, "timed_tokenize", lambda ctx, messages, repeats: (120.0, 31000))
    monkeypatch.setattr(hit_timing.time, "sleep", sleeps.append)
    rows, tokenize_ms = hit_timing.edition_calls(Context(), 0, 2.0)
    assert [r["pause_s"] for r in rows] == [0.0, 0.0, 0.0, 2.0, 2.0]
    assert [r["variant"] for r in rows] == ["cold", "hit", "hit", "hit", "hit"]
    assert [s for s in sleeps if s] == [2.0, 2.0] and tokenize_ms == 120.0
    assert hit_timing.medians(rows, variant="hit", pause_s=0.0) == 101.5
    assert hit_timing.medians(rows, variant="hit", pause_s=2.0) == 103.5
    assert all(0.0 <= r["cpu_busy"] <= 1.0 and 0.0 <= r["cpu_steal"] <= 1.0 for r in rows)


def test_cpu_shares_count_iowait_as_idle_and_steal_apart_from_busy():
    # user nice system idle iowait irq softirq steal guest guest_nice
    before = [100, 0, 50, 800, 50, 0, 0, 0, 0, 0]
    after = [160, 0, 70, 880, 60, 0, 0, 30, 0, 0]
    assert hit_timing.cpu_shares(before, after) == {"cpu_busy": 0.4, "cpu_steal": 0.15}
