"""Micro-benchmarks of streamml's hot paths; run them with ``python -m benchmarks``."""
