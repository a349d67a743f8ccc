"""The audit log: who did what, when and from where — append-only and hash-chained."""
