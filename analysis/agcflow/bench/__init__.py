"""Benchmarks: processing throughput, cached passes, scans, facilities; their reports and plots."""
