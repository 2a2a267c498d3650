"""Benchmarks. Timing targets live here, never in tests; every figure is reported next to
a baseline measured in the same run, as a ratio (the machines are shared and noisy)."""
