"""Holds in bulk from concurrent transactions on PostgreSQL: a limited account is never
overdrawn, and holds reserved on many shards of a hot account are posted and voided from
several transactions at once without losing a fen."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.session import Database
from payhub.ledger import service as ledger
from tests.conftest import requires_postgres
from tests.ledger.helpers import balance, scalar, totals
from tests.ledger.test_bulk_holds import books, hold_spec
from tests.ledger.test_concurrency_pg import together

pytestmark = requires_postgres

WORKERS = 8
PER_CHUNK = 5


async def test_concurrent_bulk_holds_never_overdraw(db: Database) -> None:
    ids = await books(db, "cbh", 10_000, shards=16)

    async def chunk(worker: int) -> list[bool]:
        specs = [hold_spec("cbh", worker * PER_CHUNK + n, 300) for n in range(PER_CHUNK)]
        errors = await db.run_in_transaction(lambda s: ledger.create_holds(s, specs))
        assert all(e is None or e.code == "insufficient_funds" for e in errors)
        return [e is None for e in errors]

    made = [ok for worker in await together(WORKERS, chunk) for ok in worker]
    # 40 holds of 300 asked against 10 000: exactly the 33 affordable ones stand.
    assert sum(made) == 33
    wallet = await balance(db, ids["wallet"])
    assert totals(wallet) == (0, 10_000, 9_900, 0)
    assert wallet.available == 100

    held = [n for n, ok in enumerate(made) if ok]
    # Post some, void the others, from several transactions at once.
    groups = [held[i::4] for i in range(4)]

    async def resolve(worker: int) -> None:
        mine = groups[worker]
        posts = [(f"cbh-h{n}", f"cbh-p{n}") for n in mine if n % 2 == 0]
        voids = [f"cbh-h{n}" for n in mine if n % 2 == 1]

        async def work(session: AsyncSession) -> None:
            posted, _ = await ledger.post_holds(session, posts)
            assert posted == [None] * len(posts)
            voided = await ledger.void_holds(session, voids)
            assert voided == [None] * len(voids)

        await db.run_in_transaction(work)

    await together(4, resolve)
    posted = 300 * sum(1 for n in held if n % 2 == 0)
    assert totals(await balance(db, ids["wallet"])) == (posted, 10_000, 0, 0)
    transit = await balance(db, ids["transit"])
    assert (transit.posted, transit.pending) == (posted, 0)
    left_pending = await scalar(
        db,
        "SELECT count(*) FROM ledger_balances WHERE account_id = :a"
        " AND (debits_pending <> 0 OR credits_pending <> 0)",
        a=ids["transit"],
    )
    assert left_pending == 0
