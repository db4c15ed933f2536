"""Experiments: scenarios that run the QA graph, their results files, summaries and benchmarks."""
