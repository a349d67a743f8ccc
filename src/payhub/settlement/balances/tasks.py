"""Settlement jobs: the daily run, the reserve release, the channels' settlement to
custody. Each is safe in several workers at once (merchants and entries are claimed with
`SKIP LOCKED`; journal ids are deterministic)."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.settlement.balances.channels import settle_channels
from payhub.settlement.balances.daily import release_due_reserves, settle_due


async def settle_due_merchants(db: Database) -> int:
    """How many daily runs were made."""
    return (await settle_due(db)).runs


async def release_reserves(db: Database) -> int:
    return await release_due_reserves(db)


async def settle_channels_to_custody(db: Database) -> int:
    """How many channel periods with movements were settled into custody (empty periods
    are registered too, and not counted)."""
    return sum(1 for view in await settle_channels(db) if view.lines or view.journal_id)
