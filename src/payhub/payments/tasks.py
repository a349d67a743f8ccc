"""Background work of payments."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.payments.service import expire_authorizations, resolve_processing


async def resolve_processing_payments(db: Database) -> int:
    """Ask the channels what became of payments whose answer was lost or timed out."""
    return await db.run_in_transaction(lambda s: resolve_processing(s, limit=100))


async def expire_lapsed_authorizations(db: Database) -> int:
    """Void or release authorisations that were not captured in time."""
    return await db.run_in_transaction(lambda s: expire_authorizations(s, limit=100))
