"""Background work of the audit log: sealing new events into the chain."""

from __future__ import annotations

from payhub.audit.service import SEAL_BATCH, seal
from payhub.db.session import Database


async def seal_audit_log(db: Database) -> int:
    total = 0
    while True:
        done = await db.transact(lambda sql: seal(sql))
        total += done
        if done < SEAL_BATCH:
            return total
