"""Background jobs of payouts, for `payhub.jobs`."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.settlement.payouts import flow


async def dispatch_due_payouts(db: Database) -> int:
    return await flow.dispatch(db)


async def resolve_payouts(db: Database) -> int:
    return await flow.resolve(db)


async def check_payout_returns(db: Database) -> int:
    return await flow.check_returns(db)
