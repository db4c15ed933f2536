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
# The LMCache server's own view: which of its tiers answered the lookups.
LMCACHE_L1_HITS = "lmcache_mp_lookup_hit_l1_tokens_total"  # CPU memory
LMCACHE_L2_HITS = "lmcache_mp_lookup_hit_l2_tokens_total"  # disk / Redis adapters
L2_STORES_SUBMITTED = "lmcache_mp_l2_store_submitted_objects_chunks_total"
L2_STORES_COMPLETED = "lmcache_mp_l2_store_completed_objects_chunks_total"


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


def histogram_totals(text: str | None, family_name: str) -> tuple[float, float]:
    """(sum, count) of a histogram family over every label set (vLLM's queue time, say); zeros when absent."""
    total = count = 0.0
    for family in text_string_to_metric_families(text or ""):
        if family.name == family_name:
            for s in family.samples:
                total += s.value if s.name.endswith("_sum") else 0.0
                count += s.value if s.name.endswith("_count") else 0.0
    return total, count


def counters_by_label(text: str | None, prefix: str, label: str) -> dict[str, float]:
    """The samples of counters named ``prefix...`` summed by one label's value (the router's results)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text or ""):
        for s in family.samples:
            if s.name.startswith(prefix) and not s.name.endswith("_created"):
                out[s.labels.get(label, "")] = out.get(s.labels.get(label, ""), 0.0) + s.value
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """``after - before`` per series; a series new in ``after`` counts from zero."""
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def hit_tokens(d: dict[str, float], server: dict[str, float] | None = None) -> dict[str, int | None]:
    """Per-call hit tokens by source from a vLLM delta: vLLM's own cache ("device") and LMCache
    ("lmcache"); with the LMCache server's delta, also which of its tiers served them (L1/L2)."""
    external = int(d.get(EXTERNAL_HITS, 0))

    def served(tier: str) -> int | None:
        # LMCache counts what its lookup found even when vLLM then used its own cache instead;
        # only tokens vLLM actually took from LMCache were served by a tier.
        if server is None:
            return None
        return int(server.get(tier, 0)) if external else 0

    by_source = {
        k[len(CACHED_BY_SOURCE) + len("{source=") : -1]: int(v) for k, v in d.items() if k.startswith(CACHED_BY_SOURCE + "{")
    }
    return {
        "device_hit_tokens": int(d.get(DEVICE_HITS, 0)),
        "lmcache_hit_tokens": external,
        "lmcache_query_tokens": int(d.get(EXTERNAL_QUERIES, 0)),
        "cached_by_source": by_source,
        "lmcache_l1_hit_tokens": served(LMCACHE_L1_HITS),
        "lmcache_l2_hit_tokens": served(LMCACHE_L2_HITS),
    }


# The LMCache server's own usage gauges and eviction counters (capacity scenario).
LMCACHE_USAGE = {
    "lmcache_l1_usage_bytes": "lmcache_mp_l1_memory_usage_bytes",
    "lmcache_l2_usage_bytes": "lmcache_mp_l2_usage_bytes",
    "lmcache_l1_evicted_chunks": "lmcache_mp_l1_evicted_chunks_total",
    "lmcache_l2_evicted_chunks": "lmcache_mp_l2_evicted_objects_chunks_total",
}


def lmcache_usage(text: str) -> dict[str, int | None]:
    """LMCache's memory and disk usage (bytes) and its running eviction totals (chunks), summed over
    tiers and adapters; None where its /metrics do not expose a series (yet: a counter appears at
    its first event)."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    out = {}
    for field_name, series in LMCACHE_USAGE.items():
        value = samples.get(series)
        if value is None and series.endswith("_total") and text:
            value = 0.0  # a counter LMCache has not created yet has counted nothing
        out[field_name] = None if value is None else int(value)
    return out
