"""Benchmarks, run by hand (docs/benchmarks.md)."""
