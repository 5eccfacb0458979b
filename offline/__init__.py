"""Offline tools: the plan, the local scoring service, benchmarks."""
