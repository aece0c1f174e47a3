"""Benchmarks: scripts printing figures (`make bench`, or `.venv/bin/python -m benchmarks.NAME`)."""
