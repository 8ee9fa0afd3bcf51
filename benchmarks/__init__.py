"""Benchmarks a user runs to measure speed (docs/benchmark.md); each also runs at a tiny size in the tests."""
