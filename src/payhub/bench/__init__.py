"""Benchmarks that print their figures against a reference measured in the same run."""
