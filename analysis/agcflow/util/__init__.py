"""Utilities every layer may use: atomic I/O, retries, provenance, progress, figure names."""
