"""Books and statements for the reconciliation tests: our side written in bulk (as the
benchmark does), the channel's true statement of it, and reads of what a run recorded."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from payhub.bench.settlement_recon import Books, seed_books
from payhub.db.session import Database
from payhub.settlement.reconciliation import service
from payhub.settlement.reconciliation.engine import BREAKS
from payhub.settlement.reconciliation.service import RunView

CHANNEL = "unionpay_quick"
DAY = date(2031, 3, 10)


async def books(db: Database, n: int = 120, *, seed: int = 1, day: date = DAY) -> Books:
    return await seed_books(db, n=n, seed=seed, day=day, channel_id=CHANNEL)


async def run(db: Database, day: date, data: bytes, **kw: Any) -> RunView:
    view, _ = await db.run_in_transaction(
        lambda s: service.run_csv(s, channel_id=CHANNEL, day=day, data=data, **kw)
    )
    return view


async def found(db: Database, run_id: str) -> set[tuple[str, str]]:
    async def read(session: Any) -> set[tuple[str, str]]:
        rows = await session.execute(
            select(BREAKS.c.type, BREAKS.c.request_id).where(BREAKS.c.run_id == run_id)
        )
        return {(r.type, r.request_id or "") for r in rows}

    result: set[tuple[str, str]] = await db.run_in_transaction(read)
    return result


async def breaks_of(db: Database, run_id: str) -> list[dict[str, Any]]:
    async def read(session: Any) -> list[dict[str, Any]]:
        rows = await session.execute(select(BREAKS).where(BREAKS.c.run_id == run_id))
        return [dict(r._mapping) for r in rows]

    result: list[dict[str, Any]] = await db.run_in_transaction(read)
    return result
