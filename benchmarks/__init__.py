"""Benchmarks: python -m benchmarks.plan, python -m benchmarks.score (figures in docs/benchmarks.md)."""
