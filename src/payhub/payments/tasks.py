"""Background work of payments."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.payments.orchestrator import expire_authorizations, resolve_in_flight


async def resolve_processing_payments(db: Database) -> int:
    """Ask the channels what became of requests whose answer was lost, timed out or never
    recorded."""
    return await resolve_in_flight(db, limit=100)


async def expire_lapsed_authorizations(db: Database) -> int:
    """Void or release authorisations that were not captured in time."""
    return await expire_authorizations(db, limit=100)
