"""Background work of authentication: forgetting nonces that can no longer be replayed."""

from __future__ import annotations

from payhub.auth.nonces import purge_expired
from payhub.db.session import Database


async def purge_expired_nonces(db: Database) -> int:
    return await db.run_in_transaction(purge_expired)
