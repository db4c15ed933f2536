"""Cache metrics: parse Prometheus text, take per-call deltas, attribute hits to their source."""
