"""Background work of the ledger."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.ledger.holds import expire_holds


async def expire_due_holds(db: Database) -> int:
    """Release every hold past its deadline; returns how many were released."""
    total = 0
    while True:
        released = await db.run_in_transaction(lambda s: expire_holds(s, limit=100))
        total += len(released)
        if len(released) < 100:
            return total
