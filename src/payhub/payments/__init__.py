"""Payments: intents, attempts at bank channels, captures, cancels and refunds."""
