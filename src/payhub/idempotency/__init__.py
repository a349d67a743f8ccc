"""Idempotency keys for POST requests: a replay returns the first response."""
