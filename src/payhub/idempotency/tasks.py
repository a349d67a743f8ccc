"""Background work for idempotency keys."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.idempotency.service import purge_expired


async def purge_expired_keys(db: Database) -> int:
    return await db.run_in_transaction(purge_expired)
