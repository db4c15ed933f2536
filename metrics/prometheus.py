"""Counters from vLLM's and LMCache's /metrics text, parsed with prometheus_client.

A snapshot is a flat ``{series: value}`` dict of counters, summed over engines and models, with the
``source`` label kept where it matters (``vllm:prompt_tokens_cached_by_source_total{source=...}``).
Deltas of two snapshots give one call's figures.
"""

from prometheus_client.parser import text_string_to_metric_families

# What each per-call field is, in vLLM's metric names (counters, in tokens).
DEVICE_HITS = "vllm:prefix_cache_hits_total"  # vLLM's own prefix cache
DEVICE_QUERIES = "vllm:prefix_cache_queries_total"
EXTERNAL_HITS = "vllm:external_prefix_cache_hits_total"  # the KV connector: LMCache
EXTERNAL_QUERIES = "vllm:external_prefix_cache_queries_total"
CACHED_BY_SOURCE = "vllm:prompt_tokens_cached_by_source_total"


def parse_counters(text: str) -> dict[str, float]:
    """Every counter sample in ``text``, summed over labels except ``source``."""
    snapshot: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "counter":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue  # skip the *_created timestamps
            key = sample.name
            if "source" in sample.labels:
                key += "{source=" + sample.labels["source"] + "}"
            snapshot[key] = snapshot.get(key, 0.0) + sample.value
    return snapshot


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """``after - before`` per series; a series new in ``after`` counts from zero."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def hit_tokens(d: dict[str, float]) -> dict[str, int]:
    """Per-call hit tokens by source from a delta: vLLM's own cache ("device") and LMCache ("lmcache")."""
    by_source = {
        k[len(CACHED_BY_SOURCE) + len("{source=") : -1]: int(v) for k, v in d.items() if k.startswith(CACHED_BY_SOURCE + "{")
    }
    return {
        "device_hit_tokens": int(d.get(DEVICE_HITS, 0)),
        "lmcache_hit_tokens": int(d.get(EXTERNAL_HITS, 0)),
        "lmcache_query_tokens": int(d.get(EXTERNAL_QUERIES, 0)),
        "cached_by_source": by_source,
    }
