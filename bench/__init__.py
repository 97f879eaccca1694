"""Benchmarks (never part of the test run). ``./dev bench --help``."""
