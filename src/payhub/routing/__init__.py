"""Smart routing: which channel a payment tries first, and which next (see docs/routing.md)."""
