"""Where a cache hit's TTFT goes: LMCache's log lines, joined to the calls that caused them, and the
split of a hit into four parts. Pure functions: no HTTP, no files, no processes.

A hit served by LMCache (vLLM's own cache emptied first) is split into
- ``fixed``: the request's fixed cost, measured as the question alone without the manual (suffix-only);
- ``kv_load``: LMCache's own retrieve time for that very request, from its log;
- ``compute``: the question's compute over the cached context, measured as a hit on vLLM's own
  prefix cache (the same prompt shape, no KV to load) minus the fixed cost;
- ``rest``: what the three leave of the measured hit. The split adds up when ``|rest|`` is at most
  15% of the hit; otherwise ``rest`` is what is unexplained, and the report says so.

Two log shapes are read:
- LMCache inside vLLM (the gpu profile, ``LMCacheConnectorV1``) logs per request
  ``[req_id=ID] Retrieved N out of M required tokens ... cost X ms``; ID is vLLM's internal request id,
  the response id (``chatcmpl-...``) plus ``-`` and 8 hex digits, so a call is joined on its response id.
- LMCache's multiprocess server (the cpu profile) logs ``Retrieved N tokens in S seconds`` with no
  request id; a call is then joined to the one retrieve logged between its start and its end (the
  scenario makes one call at a time, so at most one falls in that window).
"""

import re
import statistics
from dataclasses import dataclass
from datetime import datetime

ADDS_UP_WITHIN = 0.15  # |rest| / hit
PARTS = ("fixed", "kv_load", "compute", "rest")

_STAMP = r"\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]"
_IN_VLLM_RETRIEVE = re.compile(
    _STAMP
    + r" LMCache INFO: \[req_id=(?P<req>[^\]]+)\] Retrieved (?P<tokens>\d+) out of (?P<required>\d+) required tokens"
    r".*?size: (?P<gb>[\d.]+) gb, cost (?P<ms>[\d.]+) ms"
)
_IN_VLLM_STORE = re.compile(
    _STAMP + r" LMCache INFO: \[req_id=(?P<req>[^\]]+)\] Stored (?P<tokens>\d+) out of total (?P<required>\d+) tokens"
    r".*?size: (?P<gb>[\d.]+) GB, cost (?P<ms>[\d.]+) ms"
)
_MP_RETRIEVE = re.compile(_STAMP + r" LMCache INFO: Retrieved (?P<tokens>\d+) tokens in (?P<s>[\d.]+) seconds")
_MP_STORE = re.compile(_STAMP + r" LMCache INFO: Stored (?P<tokens>\d+) tokens in (?P<s>[\d.]+) seconds")


@dataclass(frozen=True)
class LogEvent:
    """One retrieve or store LMCache logged. ``request_id`` is None where the log names none (MP server)."""

    kind: str  # "retrieve" | "store"
    at: datetime  # when LMCache logged it (the end of the transfer), the log's local time
    tokens: int
    cost_ms: float
    request_id: str | None = None
    gb: float | None = None


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the cache server colours its log even into a file


def parse_log(lines) -> list[LogEvent]:
    """Every retrieve and store in an LMCache log (either shape), in log order; other lines are skipped."""
    events = []
    for line in lines:
        if "LMCache INFO" not in line:
            continue
        line = _ANSI.sub("", line)
        for kind, pattern in (("retrieve", _IN_VLLM_RETRIEVE), ("store", _IN_VLLM_STORE)):
            if m := pattern.search(line):
                events.append(
                    LogEvent(kind, _stamp(m["at"]), int(m["tokens"]), float(m["ms"]), m["req"], float(m["gb"]))
                )
                break
        else:
            for kind, pattern in (("retrieve", _MP_RETRIEVE), ("store", _MP_STORE)):
                if m := pattern.search(line):
                    events.append(LogEvent(kind, _stamp(m["at"]), int(m["tokens"]), round(float(m["s"]) * 1000, 3)))
                    break
    return events


def same_request(log_id: str, response_id: str) -> bool:
    """vLLM logs its internal id: the response id, or the response id plus ``-`` and a random suffix."""
    return log_id == response_id or log_id.startswith(response_id + "-")


def kv_load_ms(events: list[LogEvent], response_id: str | None, start: datetime, end: datetime) -> float | None:
    """LMCache's retrieve time for one call: the retrieves logged under its request id, or (where
    the log names no request) the ones logged between the call's start and end. None: no retrieve."""
    retrieves = [e for e in events if e.kind == "retrieve"]
    if response_id and any(e.request_id for e in retrieves):
        mine = [e for e in retrieves if e.request_id and same_request(e.request_id, response_id)]
    else:
        mine = [e for e in retrieves if e.request_id is None and start <= e.at <= end]
    return round(sum(e.cost_ms for e in mine), 4) if mine else None


@dataclass(frozen=True)
class Split:
    """A hit's TTFT split into its parts, ms (medians over the calls of one size on one stack)."""

    hit_ms: float
    fixed: float
    kv_load: float
    compute: float
    rest: float

    @property
    def rest_share(self) -> float:
        return self.rest / self.hit_ms if self.hit_ms else float("nan")

    @property
    def adds_up(self) -> bool:
        """The three measured parts explain the hit within ADDS_UP_WITHIN."""
        return abs(self.rest_share) <= ADDS_UP_WITHIN

    def as_dict(self) -> dict:
        return {"hit_ms": round(self.hit_ms, 1), **{p: round(getattr(self, p), 1) for p in PARTS},
                "rest_share": round(self.rest_share, 4), "adds_up": self.adds_up}  # fmt: skip


def split_hit(
    lmcache_hits_ms: list[float], kv_loads_ms: list[float], device_hits_ms: list[float], suffix_ms: list[float]
) -> Split:
    """Split the median LMCache hit: fixed = median suffix-only, compute = median vLLM-cache hit - fixed,
    kv_load = median LMCache retrieve time, rest = hit - the three."""
    hit = statistics.median(lmcache_hits_ms)
    fixed = statistics.median(suffix_ms)
    compute = statistics.median(device_hits_ms) - fixed
    kv = statistics.median(kv_loads_ms)
    return Split(hit_ms=hit, fixed=fixed, kv_load=kv, compute=compute, rest=hit - fixed - compute - kv)


def spread(values: list[float]) -> float | None:
    """(max - min) / min of one figure across stacks; None with fewer than two."""
    values = [v for v in values if v is not None]
    if len(values) < 2 or min(values) <= 0:
        return None
    return round((max(values) - min(values)) / min(values), 4)


# ----- per size and stack, over a table of calls -----
# ``calls`` columns: stack, size, repeat, variant (cold / device_hit / lmcache_hit / suffix_only),
# response_id, ttft_ms, prompt_tokens, device_hit_tokens, lmcache_hit_tokens, started, ended (ISO times).


def account(calls, events: list[LogEvent], startups: dict | None = None) -> dict:
    """Per size and stack, the split of the median LMCache hit, plus the spread between stacks."""
    calls = calls.copy()
    calls["kv_load_ms"] = [
        kv_load_ms(events, rid if isinstance(rid, str) and rid else None, datetime.fromisoformat(a), datetime.fromisoformat(b))
        if v == "lmcache_hit" else None
        for rid, a, b, v in zip(calls["response_id"], calls["started"], calls["ended"], calls["variant"], strict=True)
    ]  # fmt: skip
    out: dict = {
        "adds_up_within": ADDS_UP_WITHIN,
        "startup_s": {str(k): v for k, v in (startups or {}).items()},
        "sizes": {},
    }
    for size, by_size in calls.groupby("size"):
        per: dict = {"stacks": {}}
        for s, g in by_size.groupby("stack"):
            v = {name: g[g["variant"] == name] for name in ("cold", "device_hit", "lmcache_hit", "suffix_only")}
            loads = v["lmcache_hit"]["kv_load_ms"].dropna().tolist()
            if v["lmcache_hit"].empty or v["device_hit"].empty or v["suffix_only"].empty or not loads:
                continue
            split = split_hit(
                v["lmcache_hit"]["ttft_ms"].tolist(),
                loads,
                v["device_hit"]["ttft_ms"].tolist(),
                v["suffix_only"]["ttft_ms"].tolist(),
            )
            per["stacks"][str(s)] = {
                **split.as_dict(),
                "cold_ms": round(float(v["cold"]["ttft_ms"].median()), 1),
                "prompt_tokens": int(v["lmcache_hit"]["prompt_tokens"].median()),
                "calls": len(v["lmcache_hit"]),
                "kv_loads_joined": len(loads),
                "lmcache_hit_by_repeat_ms": v["lmcache_hit"]["ttft_ms"].round(1).tolist(),
                "kv_load_by_repeat_ms": [round(x, 1) for x in loads],
                "device_hit_by_repeat_ms": v["device_hit"]["ttft_ms"].round(1).tolist(),
                "device_hit_verified": bool((v["device_hit"]["device_hit_tokens"].fillna(0) > 0).all()),
                "lmcache_hit_verified": bool((v["lmcache_hit"]["device_hit_tokens"].fillna(0) == 0).all()
                                             and (v["lmcache_hit"]["lmcache_hit_tokens"].fillna(0) > 0).all()),
            }  # fmt: skip
        if not per["stacks"]:
            continue
        stacks = per["stacks"].values()
        per["hit_spread"] = spread([x["hit_ms"] for x in stacks])
        per["part_spread"] = {p: spread([x[p] for x in stacks]) for p in ("fixed", "kv_load", "compute")}
        out["sizes"][str(int(size))] = per
    return out
