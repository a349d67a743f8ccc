"""Background work of the vault: moving stored numbers to the active data key."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.vault import reencrypt

# Batches per run: a run stays short, and the next one carries on.
BATCHES_PER_RUN = 5


async def reencrypt_to_active_key(db: Database) -> int:
    return (await reencrypt.run(db, max_batches=BATCHES_PER_RUN)).moved
