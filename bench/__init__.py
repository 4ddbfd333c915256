"""Benchmarks, outside the test suite: ``uv run python -m bench [--quick]`` (``bench.__main__``)."""
