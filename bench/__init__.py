"""Benchmarks: each module compares cix against a baseline measured in the same run."""
