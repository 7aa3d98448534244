"""Server benchmarks: `python -m bench.server_bench` (a script, not part of the test suite)."""
