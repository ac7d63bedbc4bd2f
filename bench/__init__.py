"""Benchmark scripts; run each from the repository root, e.g. `python bench/bench_ranking.py`."""
