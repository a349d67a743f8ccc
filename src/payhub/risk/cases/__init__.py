"""Alerts and the cases compliance officers work them in.

`alerts` raises alerts (from the in-line decision, the monitoring engine and sanctions
screening), idempotently by a caller's key, in the caller's transaction; `service` runs
the case workflow (open, assign, comment, attach, escalate, close with a disposition,
reopen) and keeps every step in the case's history and in the audit log.
"""
