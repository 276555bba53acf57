"""Benchmarks: run from the repository root as `python -m bench.<name>` against the installed package."""
