"""Background work of payments."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.payments.service import resolve_processing


async def resolve_processing_payments(db: Database) -> int:
    """Ask the channels what became of payments whose answer was lost or timed out."""
    return await db.run_in_transaction(lambda s: resolve_processing(s, limit=100))
