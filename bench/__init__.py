"""Benchmarks (SPEC contract 5): `make bench` runs every `bench/bench_*.py` module."""
