"""Background work of sanctions screening."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.risk.sanctions.rescreen import rescreen_pending


async def rescreen_after_list_change(db: Database) -> int:
    """Rescreen every party once a newly loaded list version waits for it."""
    return await rescreen_pending(db)
