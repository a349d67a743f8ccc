"""Concurrent writers on PostgreSQL: row locks, unique constraints and retries keep the
ledger exact when 16 workers hit the same accounts at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import JournalSpec
from tests.conftest import requires_postgres
from tests.ledger.helpers import balance, open_account, post, scalar, totals, transfer

pytestmark = requires_postgres

WORKERS = 16


async def together(n: int, work: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Run `work(i)` for i in range(n) as concurrent tasks released at the same moment."""
    start = asyncio.Event()

    async def run(i: int) -> Any:
        await start.wait()
        return await work(i)

    tasks = [asyncio.create_task(run(i)) for i in range(n)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


@asynccontextmanager
async def row_locked(db: Database, account_id: str) -> AsyncIterator[None]:
    """Keep an account's balance row locked by another transaction until the block ends, so
    that concurrent writers all get past their reads and queue on the lock together."""
    async with db.engine.connect() as conn:
        await conn.execute(
            text("SELECT 1 FROM ledger_balances WHERE account_id = :a FOR UPDATE"),
            {"a": account_id},
        )
        try:
            yield
        finally:
            await conn.commit()


async def waiting_on_locks(db: Database, count: int) -> None:
    """Return once `count` sessions of this database wait for a lock."""
    async with db.engine.connect() as conn:
        for _ in range(2000):
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            ).scalar_one()
            await conn.rollback()
            if waiting >= count:
                return
            await asyncio.sleep(0.005)
    raise AssertionError(f"only {waiting} of {count} sessions reached the lock")


async def queued(
    db: Database, account_id: str, n: int, work: Callable[[int], Awaitable[Any]]
) -> list[Any]:
    """Start `n` workers while `account_id`'s row is locked; free it once all of them wait."""
    async with row_locked(db, account_id):
        tasks = [asyncio.create_task(work(i)) for i in range(n)]
        await waiting_on_locks(db, n)
    return await asyncio.gather(*tasks)


async def code_of(work: Awaitable[Any]) -> str:
    try:
        await work
    except PayHubError as error:
        return error.code
    return "ok"


async def funded_wallet(db: Database, funds: int) -> tuple[str, str]:
    await open_account(db, "bank:custody", side="debit")
    wallet = await open_account(db, "wallet:w1", no_overdraft=True)
    sink = await open_account(db, "merchant:m1")
    if funds:
        await post(db, transfer("bank:custody", "wallet:w1", funds))
    return wallet.id, sink.id


class Watch:
    """Reads the wallet's balance row over and over while the workers run."""

    def __init__(self, db: Database, account_id: str) -> None:
        self.db, self.account_id = db, account_id
        self.done = asyncio.Event()
        self.reads = 0

    async def run(self) -> None:
        async with self.db.engine.connect() as conn:
            while not self.done.is_set():
                row = (
                    await conn.execute(
                        text(
                            "SELECT debits_posted, debits_pending, credits_posted"
                            " FROM ledger_balances WHERE account_id = :a"
                        ),
                        {"a": self.account_id},
                    )
                ).one()
                await conn.rollback()
                assert row[0] + row[1] <= row[2], f"overdrawn: {row}"
                self.reads += 1
                await asyncio.sleep(0.001)


@pytest.mark.parametrize("path", ["session", "standalone"])
async def test_draining_a_no_overdraft_account(db: Database, path: str) -> None:
    wallet, sink = await funded_wallet(db, 1000)
    watch = Watch(db, wallet)
    watcher = asyncio.create_task(watch.run())

    async def one_transfer() -> str:
        spec = transfer("wallet:w1", "merchant:m1", 7)
        if path == "session":
            return await code_of(db.run_in_transaction(lambda s: ledger.post_journal(s, spec)))
        (outcome,) = await ledger.post_journals_standalone(db, [spec])
        if outcome.status == "created":
            return "ok"
        assert outcome.error is not None
        return outcome.error.code

    async def worker(_: int) -> list[str]:
        return [await one_transfer() for _ in range(10)]

    results = await together(WORKERS, worker)
    watch.done.set()
    await watcher
    assert watch.reads > 0

    counts = Counter(code for codes in results for code in codes)
    assert counts == {"ok": 1000 // 7, "insufficient_funds": WORKERS * 10 - 1000 // 7}
    view = await balance(db, wallet)
    assert totals(view) == (7 * (1000 // 7), 1000, 0, 0)
    assert view.posted == 1000 % 7
    assert (await balance(db, sink)).posted == 7 * (1000 // 7)
    entries = await scalar(
        db, "SELECT count(*) FROM ledger_entries WHERE account_id = :a AND side = 'debit'", a=wallet
    )
    assert int(entries) == 1000 // 7


async def test_same_journal_id_from_many_workers_is_written_once(db: Database) -> None:
    wallet, _ = await funded_wallet(db, 0)
    spec = transfer("bank:custody", "wallet:w1", 100, id="pay-once")

    results = await together(
        WORKERS, lambda _: db.run_in_transaction(lambda s: ledger.post_journal(s, spec))
    )
    assert sorted(created for _, created in results) == [False] * (WORKERS - 1) + [True]
    assert {view.id for view, _ in results} == {"pay-once"}
    assert len({tuple(e.id for e in view.postings) for view, _ in results}) == 1
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals WHERE id = 'pay-once'")) == 1
    assert (
        int(await scalar(db, "SELECT count(*) FROM ledger_entries WHERE journal_id = 'pay-once'"))
        == 2
    )
    assert totals(await balance(db, wallet)) == (0, 100, 0, 0)


async def test_same_journal_id_through_the_standalone_path(db: Database) -> None:
    wallet, _ = await funded_wallet(db, 0)
    spec = transfer("bank:custody", "wallet:w1", 100, id="pay-once")

    results = await together(WORKERS, lambda _: ledger.post_journals_standalone(db, [spec]))
    statuses = Counter(outcome.status for (outcome,) in results)
    assert statuses == {"created": 1, "duplicate": WORKERS - 1}
    assert {outcome.journal.id for (outcome,) in results if outcome.journal} == {"pay-once"}
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals")) == 1
    assert totals(await balance(db, wallet)) == (0, 100, 0, 0)


async def test_same_journal_id_queued_on_the_same_rows(db: Database) -> None:
    """All workers read 'no such journal' before the first one commits."""
    wallet, _ = await funded_wallet(db, 0)
    spec = transfer("bank:custody", "wallet:w1", 100, id="pay-once")
    results = await queued(
        db, wallet, WORKERS, lambda _: db.run_in_transaction(lambda s: ledger.post_journal(s, spec))
    )
    assert sorted(created for _, created in results) == [False] * (WORKERS - 1) + [True]
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals")) == 1
    assert totals(await balance(db, wallet)) == (0, 100, 0, 0)


async def test_concurrent_repeat_of_a_payment_is_a_duplicate_not_a_refusal(db: Database) -> None:
    wallet, sink = await funded_wallet(db, 1000)
    spec = transfer("wallet:w1", "merchant:m1", 600, id="pay-once")

    async def attempt(_: int) -> str:
        try:
            _, created = await db.run_in_transaction(lambda s: ledger.post_journal(s, spec))
        except PayHubError as error:
            return error.code
        return "created" if created else "duplicate"

    results = Counter(await queued(db, wallet, WORKERS, attempt))
    # What is true either way: the payment was made once.
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals WHERE id = 'pay-once'")) == 1
    assert totals(await balance(db, wallet)) == (600, 1000, 0, 0)
    assert (await balance(db, sink)).posted == 600
    # A repeat sent while the first was committing is the same payment, not a refused one.
    assert results == {"created": 1, "duplicate": WORKERS - 1}


async def test_concurrent_holds_never_over_reserve(db: Database) -> None:
    wallet, sink = await funded_wallet(db, 1000)
    watch = Watch(db, wallet)
    watcher = asyncio.create_task(watch.run())

    async def worker(_: int) -> list[tuple[str, str | None]]:
        out = []
        for _ in range(3):
            try:
                view, _created = await db.run_in_transaction(
                    lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 60))
                )
                out.append(("ok", view.id))
            except PayHubError as error:
                out.append((error.code, None))
        return out

    results = [r for rs in await together(WORKERS, worker) for r in rs]
    watch.done.set()
    await watcher
    assert Counter(code for code, _ in results) == {
        "ok": 1000 // 60,
        "insufficient_funds": WORKERS * 3 - 1000 // 60,
    }
    view = await balance(db, wallet)
    assert totals(view) == (0, 1000, 60 * (1000 // 60), 0)
    assert view.available == 1000 % 60
    assert totals(await balance(db, sink)) == (0, 0, 0, 60 * (1000 // 60))

    # Every worker resolves every hold at once: each hold resolves exactly once.
    holds = [hold_id for code, hold_id in results if hold_id]

    async def resolver(i: int) -> list[str]:
        out = []
        for hold_id in holds:
            if i % 2:
                work = db.run_in_transaction(lambda s, h=hold_id: ledger.post_hold(s, h))
            else:
                work = db.run_in_transaction(lambda s, h=hold_id: ledger.void_hold(s, h))
            out.append(await code_of(work))
        return out

    outcomes = await together(WORKERS, resolver)
    for index in range(len(holds)):
        codes = Counter(outcome[index] for outcome in outcomes)
        assert codes == {"ok": 1, "hold_already_resolved": WORKERS - 1}
    statuses = Counter(
        [(await db.run_in_transaction(lambda s, h=h: ledger.get_hold(s, h))).status for h in holds]
    )
    posted = statuses["posted"]
    assert posted + statuses["voided"] == len(holds)
    assert totals(await balance(db, wallet)) == (60 * posted, 1000, 0, 0)
    assert totals(await balance(db, sink)) == (0, 60 * posted, 0, 0)
    assert (
        int(await scalar(db, "SELECT count(*) FROM ledger_journals WHERE kind = 'hold_post'"))
        == posted
    )


async def reverse_all(
    db: Database, wallet: str, reversal_id: str | None, *, queue: bool
) -> Counter[tuple[str, bool | None]]:
    async def reverse(_: int) -> tuple[str, bool | None]:
        try:
            view, created = await db.run_in_transaction(
                lambda s: ledger.reverse_journal(s, "top-up", reversal_id=reversal_id)
            )
        except PayHubError as error:
            return error.code, None
        assert view.reverses_journal_id == "top-up"
        return "ok", created

    if queue:
        return Counter(await queued(db, wallet, WORKERS, reverse))
    return Counter(await together(WORKERS, reverse))


@pytest.mark.parametrize("queue", [False, True], ids=["together", "queued"])
async def test_concurrent_reversals_reverse_once(db: Database, queue: bool) -> None:
    wallet, _ = await funded_wallet(db, 10_000)
    await post(db, transfer("bank:custody", "wallet:w1", 500, id="top-up"))

    results = await reverse_all(db, wallet, None, queue=queue)
    assert results == {("ok", True): 1, ("journal_already_reversed", None): WORKERS - 1}
    count = await scalar(
        db, "SELECT count(*) FROM ledger_journals WHERE reverses_journal_id = 'top-up'"
    )
    assert int(count) == 1
    assert totals(await balance(db, wallet)) == (500, 10_500, 0, 0)


async def test_concurrent_repeats_of_one_reversal_return_it(db: Database) -> None:
    wallet, _ = await funded_wallet(db, 10_000)
    await post(db, transfer("bank:custody", "wallet:w1", 500, id="top-up"))

    # Queued on the wallet's row, every worker has looked for rev-1 before it exists.
    results = await reverse_all(db, wallet, "rev-1", queue=True)
    assert results == {("ok", True): 1, ("ok", False): WORKERS - 1}
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals WHERE id = 'rev-1'")) == 1
    assert totals(await balance(db, wallet)) == (500, 10_500, 0, 0)


async def test_concurrent_reversal_that_would_overdraw_reports_already_reversed(
    db: Database,
) -> None:
    wallet, _ = await funded_wallet(db, 0)
    await post(db, transfer("bank:custody", "wallet:w1", 500, id="top-up"))

    results = await reverse_all(db, wallet, None, queue=True)
    count = await scalar(
        db, "SELECT count(*) FROM ledger_journals WHERE reverses_journal_id = 'top-up'"
    )
    assert int(count) == 1
    assert totals(await balance(db, wallet)) == (500, 500, 0, 0)
    # Sequentially the answer is journal_already_reversed; it must not depend on timing.
    assert results == {("ok", True): 1, ("journal_already_reversed", None): WORKERS - 1}


async def test_reading_a_journal_while_it_commits(db: Database) -> None:
    """Order the race with real locks: the reader reads ledger_journals before the writer
    commits and ledger_entries after (queued behind a table lock that waits for the writer)."""
    await funded_wallet(db, 0)
    written, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.session() as session:
            await ledger.post_journal(session, transfer("bank:custody", "wallet:w1", 5, id="racy"))
            written.set()
            await release.wait()

    async def blocker() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE"))
            await conn.commit()

    async def reader() -> Any:
        try:
            return await db.run_in_transaction(lambda s: ledger.get_journal(s, "racy"))
        except PayHubError as error:
            return error.code

    writing = asyncio.create_task(writer())
    await written.wait()
    blocking = asyncio.create_task(blocker())
    await waiting_on_locks(db, 1)  # the blocker waits for the writer
    reading = asyncio.create_task(reader())
    await waiting_on_locks(db, 2)  # the reader read ledger_journals, waits on ledger_entries
    release.set()
    await writing
    await blocking
    result = await reading
    # Either not yet there, or all of it.
    assert result == "journal_not_found" or (
        result.id == "racy" and [e.amount for e in result.postings] == [5, 5]
    )


@pytest.mark.parametrize("path", ["session", "standalone"])
async def test_concurrent_postings_to_a_hot_account_sum_exactly(db: Database, path: str) -> None:
    bank = await open_account(db, "bank:custody", side="debit", shards=16)
    hot = await open_account(db, "platform:fees", shards=16)

    async def worker(i: int) -> int:
        total = 0
        for n in range(25):
            amount = i * 100 + n + 1
            spec: JournalSpec = transfer("bank:custody", "platform:fees", amount)
            if path == "session":
                _, created = await db.run_in_transaction(
                    lambda s, x=spec: ledger.post_journal(s, x)
                )
                assert created is True
            else:
                (outcome,) = await ledger.post_journals_standalone(db, [spec])
                assert outcome.status == "created"
            total += amount
        return total

    expected = sum(await together(WORKERS, worker))
    assert expected == sum(i * 100 + n + 1 for i in range(WORKERS) for n in range(25))
    assert totals(await balance(db, hot.id)) == (0, expected, 0, 0)
    assert totals(await balance(db, bank.id)) == (expected, 0, 0, 0)
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals")) == WORKERS * 25
    per_shard = dict(
        (
            await db.run_in_transaction(
                lambda s: s.execute(
                    text("SELECT shard, credits_posted FROM ledger_balances WHERE account_id = :a"),
                    {"a": hot.id},
                )
            )
        ).all()
    )
    assert sum(per_shard.values()) == expected
    assert len([v for v in per_shard.values() if v]) > 1
    by_entries = dict(
        (
            await db.run_in_transaction(
                lambda s: s.execute(
                    text(
                        "SELECT shard, sum(amount) FROM ledger_entries WHERE account_id = :a"
                        " GROUP BY shard"
                    ),
                    {"a": hot.id},
                )
            )
        ).all()
    )
    assert {k: int(v) for k, v in by_entries.items()} == {k: v for k, v in per_shard.items() if v}
