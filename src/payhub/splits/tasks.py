"""Background jobs of split batches, for `payhub.jobs`."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.splits import runner


async def run_split_batches(db: Database) -> int:
    return await runner.run_pending_batches(db)
