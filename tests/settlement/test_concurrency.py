"""Several workers settling at once (PostgreSQL): every merchant's day is settled once,
and concurrent real-time captures and refunds keep the balances whole."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.payments import orchestrator
from payhub.settlement.balances import daily, journals
from payhub.settlement.balances import settings as settlement_settings
from tests.conftest import requires_postgres
from tests.payments.helpers import count_rows
from tests.settlement.helpers import beijing, no_fee_by_default
from tests.settlement.test_properties import _open, _pay

MERCHANTS = 6
WORKERS = 4


@pytest.fixture(autouse=True)
async def _no_merchant_fee(db: Database) -> None:
    await no_fee_by_default(db)


async def _available(db: Database, merchant_id: str) -> dict[str, int]:
    found = await db.run_in_transaction(lambda s: journals.merchant_balances(s, merchant_id, "CNY"))
    return {name: view.posted for name, view in found.items()}


@requires_postgres
async def test_workers_running_at_once_settle_each_day_once(db: Database) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shops = [await _open(db) for _ in range(MERCHANTS)]
        for index, (merchant_id, card) in enumerate(shops):
            await _pay(db, merchant_id, card, 1_000 * (index + 1))
        frozen.set(beijing(2026, 3, 3, 23, 1))
        workers = [Database(db.url, pool_size=2) for _ in range(WORKERS)]
        try:
            for _ in range(3):  # the same moment, three times over, four workers each
                await asyncio.gather(*(daily.settle_due(w) for w in workers))
        finally:
            for worker in workers:
                await worker.dispose()
    for index, (merchant_id, _) in enumerate(shops):
        assert await _available(db, merchant_id) == {
            "pending": 0,
            "available": 1_000 * (index + 1),
            "reserve": 0,
        }
    rows = await count_rows(db, "settlement_entries")
    assert rows["settlement_entries"] == MERCHANTS  # one run for 3 March, per merchant
    async with db.engine.connect() as conn:
        settled = (
            await conn.exec_driver_sql(
                "SELECT count(*) FROM ledger_journals WHERE id LIKE 'stl_d_%'"
            )
        ).scalar_one()
    assert settled == MERCHANTS


@requires_postgres
async def test_concurrent_realtime_refunds_never_overdraw(db: Database) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        merchant_id, card = await _open(db)
        changes = {"mode": "realtime", "reserve_bps": 1_000, "reserve_days": 5}
        await db.run_in_transaction(
            lambda s: settlement_settings.update_settings(s, merchant_id, changes)
        )
        paid = await asyncio.gather(*(_pay(db, merchant_id, card, 1_000) for _ in range(8)))
        assert await _available(db, merchant_id) == {
            "pending": 0,
            "available": 7_200,
            "reserve": 800,
        }
        frozen.advance(timedelta(minutes=5))
        # 8 refunds of 1 000 at once: available (7 200) and reserve (800) cover them all.
        await asyncio.gather(
            *(
                orchestrator.refund_payment(db, payment_id=pid, merchant_id=None, amount=1_000)
                for pid in paid
            )
        )
    balances = await _available(db, merchant_id)
    assert balances == {"pending": 0, "available": 0, "reserve": 0}
