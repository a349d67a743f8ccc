"""Two-phase holds: reserve, post (in full or in part), void, expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import AccountView, HoldView, JournalSpec, PostingSpec, Side
from payhub.ledger.tasks import expire_due_holds
from tests.ledger.helpers import balance, open_account, p, post, refused, scalar, totals, transfer

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def books(db: Database, funds: int = 1000) -> tuple[AccountView, AccountView]:
    """A wallet holding `funds` that may not overdraw, and a merchant."""
    await open_account(db, "bank:custody", side="debit")
    wallet = await open_account(db, "wallet:w1", no_overdraft=True)
    merchant = await open_account(db, "merchant:m1")
    await post(db, transfer("bank:custody", "wallet:w1", funds))
    return wallet, merchant


async def hold(
    db: Database, amount: int, *, id: str | None = None, expires_at: datetime | None = None
) -> HoldView:
    view, created = await db.run_in_transaction(
        lambda s: ledger.create_hold(
            s, transfer("wallet:w1", "merchant:m1", amount, id=id), expires_at=expires_at
        )
    )
    assert created is True
    return view


async def post_hold(db: Database, hold_id: str, **kwargs: object) -> HoldView:
    return await db.run_in_transaction(lambda s: ledger.post_hold(s, hold_id, **kwargs))  # type: ignore[arg-type]


async def void_hold(db: Database, hold_id: str) -> HoldView:
    return await db.run_in_transaction(lambda s: ledger.void_hold(s, hold_id))


async def get_hold(db: Database, hold_id: str) -> HoldView:
    return await db.run_in_transaction(lambda s: ledger.get_hold(s, hold_id))


async def test_hold_reserves_without_posting(db: Database) -> None:
    wallet, merchant = await books(db)
    view = await hold(db, 300, id="auth-1")

    assert view.id == "auth-1"
    assert view.status == "pending"
    assert view.resolved_at is None and view.post_journal is None and view.expires_at is None
    assert [(e.account_id, e.side, e.amount, e.pending) for e in view.postings] == [
        (wallet.id, Side.DEBIT, 300, True),
        (merchant.id, Side.CREDIT, 300, True),
    ]

    w = await balance(db, wallet.id)
    assert totals(w) == (0, 1000, 300, 0)
    assert w.posted == 1000
    assert w.pending == -300
    assert w.available == 700
    m = await balance(db, merchant.id)
    assert totals(m) == (0, 0, 0, 300)
    assert (m.posted, m.pending, m.available) == (0, 300, 0)

    # The hold's entries are not posted money.
    posted, _ = await db.run_in_transaction(lambda s: ledger.list_entries(s, wallet.id, limit=10))
    assert [e.amount for e in posted] == [1000]

    # Creating it again with the same id and content is a repeat; other content conflicts.
    again, created = await db.run_in_transaction(
        lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 300, id="auth-1"))
    )
    assert created is False
    assert again.id == "auth-1" and again.status == "pending"
    assert [e.id for e in again.postings] == [e.id for e in view.postings]
    await refused(
        db.run_in_transaction(
            lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 301, id="auth-1"))
        ),
        "journal_conflict",
    )
    assert totals(await balance(db, wallet.id)) == (0, 1000, 300, 0)

    generated = await hold(db, 1)
    assert generated.id.startswith("hold_")
    await refused(get_hold(db, "hold_missing"), "hold_not_found")


async def test_limits_count_pending_holds(db: Database) -> None:
    wallet, _ = await books(db)
    await hold(db, 700)
    error = await refused(
        db.run_in_transaction(
            lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 301))
        ),
        "insufficient_funds",
    )
    assert error.fields["account"] == "wallet:w1"
    await refused(post(db, transfer("wallet:w1", "merchant:m1", 301)), "insufficient_funds")
    assert totals(await balance(db, wallet.id)) == (0, 1000, 700, 0)

    await hold(db, 200)
    await post(db, transfer("wallet:w1", "merchant:m1", 100))
    w = await balance(db, wallet.id)
    assert totals(w) == (100, 1000, 900, 0)
    assert w.available == 0
    await refused(
        db.run_in_transaction(
            lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 1))
        ),
        "insufficient_funds",
    )


async def test_post_hold_in_full(db: Database) -> None:
    clock = FrozenClock(T0)
    with use_clock(clock):
        wallet, merchant = await books(db)
        view = await hold(db, 300, id="auth-1")
        clock.advance(timedelta(minutes=5))
        posted = await post_hold(db, "auth-1", journal_id="cap-1")

    assert posted.status == "posted"
    assert posted.resolved_at == T0 + timedelta(minutes=5)
    journal = posted.post_journal
    assert journal is not None
    assert journal.id == "cap-1"
    assert journal.kind == "hold_post"
    assert journal.hold_id == "auth-1"
    assert journal.description == "Posting of hold auth-1"
    assert [(e.account_id, e.side, e.amount, e.pending) for e in journal.postings] == [
        (wallet.id, Side.DEBIT, 300, False),
        (merchant.id, Side.CREDIT, 300, False),
    ]
    # The hold's own entries stay as they were.
    assert [e.id for e in posted.postings] == [e.id for e in view.postings]

    assert totals(await balance(db, wallet.id)) == (300, 1000, 0, 0)
    assert (await balance(db, wallet.id)).available == 700
    assert totals(await balance(db, merchant.id)) == (0, 300, 0, 0)

    # The same posting again (same journal id) is a repeat, not a second capture.
    again = await post_hold(db, "auth-1", journal_id="cap-1")
    assert again.status == "posted"
    assert again.post_journal is not None and again.post_journal.id == "cap-1"
    assert totals(await balance(db, wallet.id)) == (300, 1000, 0, 0)


async def test_partial_post_releases_the_rest(db: Database) -> None:
    wallet, merchant = await books(db)
    view = await hold(db, 300)
    posted = await post_hold(
        db, view.id, postings=(p("wallet:w1", "debit", 120), p(merchant.id, "credit", 120))
    )
    assert posted.status == "posted"
    assert posted.post_journal is not None
    assert [(e.account_id, e.side, e.amount) for e in posted.post_journal.postings] == [
        (wallet.id, Side.DEBIT, 120),
        (merchant.id, Side.CREDIT, 120),
    ]
    assert totals(await balance(db, wallet.id)) == (120, 1000, 0, 0)
    assert (await balance(db, wallet.id)).available == 880
    assert totals(await balance(db, merchant.id)) == (0, 120, 0, 0)


async def test_post_more_than_held_is_refused(db: Database) -> None:
    wallet, merchant = await books(db)
    await open_account(db, "merchant:m2")
    view = await hold(db, 300)
    error = await refused(
        post_hold(
            db, view.id, postings=(p("wallet:w1", "debit", 301), p("merchant:m1", "credit", 301))
        ),
        "hold_post_exceeds_pending",
    )
    assert error.param == "postings"
    # An account the hold reserved nothing for.
    await refused(
        post_hold(
            db, view.id, postings=(p("wallet:w1", "debit", 10), p("merchant:m2", "credit", 10))
        ),
        "hold_post_exceeds_pending",
    )
    # The reserved side only: the hold credited the merchant, it did not debit it.
    await refused(
        post_hold(
            db, view.id, postings=(p("merchant:m1", "debit", 10), p("wallet:w1", "credit", 10))
        ),
        "hold_post_exceeds_pending",
    )
    # Two lines on one account add up.
    await refused(
        post_hold(
            db,
            view.id,
            postings=(
                p("wallet:w1", "debit", 200),
                p("wallet:w1", "debit", 200),
                p("merchant:m1", "credit", 400),
            ),
        ),
        "hold_post_exceeds_pending",
    )
    await refused(
        post_hold(
            db, view.id, postings=(p("wallet:w1", "debit", 10), p("merchant:m1", "credit", 9))
        ),
        "journal_unbalanced",
    )

    assert (await get_hold(db, view.id)).status == "pending"
    assert totals(await balance(db, wallet.id)) == (0, 1000, 300, 0)
    assert totals(await balance(db, merchant.id)) == (0, 0, 0, 300)
    # Still postable afterwards.
    await post_hold(db, view.id)
    assert totals(await balance(db, wallet.id)) == (300, 1000, 0, 0)


async def test_post_cannot_exceed_the_hold_by_naming_an_account_two_ways(db: Database) -> None:
    """Regression: the check once summed per raw reference, so code + id posted twice."""
    wallet, merchant = await books(db)
    view = await hold(db, 100)
    doubled = (
        p("wallet:w1", "debit", 100),
        p(wallet.id, "debit", 100),
        p("merchant:m1", "credit", 100),
        p(merchant.id, "credit", 100),
    )
    await refused(post_hold(db, view.id, postings=doubled), "hold_post_exceeds_pending")
    assert totals(await balance(db, wallet.id)) == (0, 1000, 100, 0)
    assert totals(await balance(db, merchant.id)) == (0, 0, 0, 100)


async def test_post_cannot_move_a_hold_into_another_currency(db: Database) -> None:
    """Regression: the check once keyed accounts by code without currency."""
    wallet, merchant = await books(db)
    await open_account(db, "bank:custody", currency="USD", side="debit")
    wallet_usd = await open_account(db, "wallet:w1", currency="USD", no_overdraft=True)
    merchant_usd = await open_account(db, "merchant:m1", currency="USD")
    await post(db, transfer("bank:custody", "wallet:w1", 1000, currency="USD"))
    view = await hold(db, 100)
    usd = (p("wallet:w1", "debit", 100, "USD"), p("merchant:m1", "credit", 100, "USD"))
    await refused(post_hold(db, view.id, postings=usd), "hold_post_exceeds_pending")
    assert totals(await balance(db, wallet_usd.id)) == (0, 1000, 0, 0)
    assert totals(await balance(db, merchant_usd.id)) == (0, 0, 0, 0)
    assert totals(await balance(db, wallet.id)) == (0, 1000, 100, 0)
    assert totals(await balance(db, merchant.id)) == (0, 0, 0, 100)


async def test_void_releases_everything(db: Database) -> None:
    clock = FrozenClock(T0)
    with use_clock(clock):
        wallet, merchant = await books(db)
        view = await hold(db, 300)
        clock.advance(timedelta(seconds=30))
        voided = await void_hold(db, view.id)
    assert voided.status == "voided"
    assert voided.resolved_at == T0 + timedelta(seconds=30)
    assert voided.post_journal is None
    assert totals(await balance(db, wallet.id)) == (0, 1000, 0, 0)
    assert (await balance(db, wallet.id)).available == 1000
    assert totals(await balance(db, merchant.id)) == (0, 0, 0, 0)
    # Nothing was posted: just the funding journal and the hold.
    assert int(await scalar(db, "SELECT count(*) FROM ledger_journals")) == 2


async def test_a_hold_resolves_at_most_once(db: Database) -> None:
    wallet, merchant = await books(db)
    voided = await hold(db, 100)
    await void_hold(db, voided.id)
    error = await refused(post_hold(db, voided.id), "hold_already_resolved")
    assert error.fields["status"] == "voided"
    await refused(void_hold(db, voided.id), "hold_already_resolved")

    posted = await hold(db, 200)
    await post_hold(db, posted.id)
    error = await refused(post_hold(db, posted.id), "hold_already_resolved")
    assert error.fields["status"] == "posted"
    await refused(post_hold(db, posted.id, journal_id="cap-other"), "hold_already_resolved")
    await refused(void_hold(db, posted.id), "hold_already_resolved")

    assert totals(await balance(db, wallet.id)) == (200, 1000, 0, 0)
    assert totals(await balance(db, merchant.id)) == (0, 200, 0, 0)
    assert (await get_hold(db, voided.id)).status == "voided"
    assert (await get_hold(db, posted.id)).status == "posted"
    await refused(post_hold(db, "hold_missing"), "hold_not_found")
    await refused(void_hold(db, "hold_missing"), "hold_not_found")


async def test_post_journal_id_of_another_journal_conflicts(db: Database) -> None:
    wallet, _ = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 5, id="used"))
    view = await hold(db, 100)
    await refused(post_hold(db, view.id, journal_id="used"), "journal_conflict")
    assert (await get_hold(db, view.id)).status == "pending"
    assert totals(await balance(db, wallet.id)) == (0, 1005, 100, 0)


async def test_expired_hold_is_released_by_the_job(db: Database) -> None:
    clock = FrozenClock(T0)
    with use_clock(clock):
        wallet, merchant = await books(db)
        await refused(hold(db, 10, expires_at=T0), "validation_error")
        view = await hold(db, 300, id="auth-1", expires_at=T0 + timedelta(minutes=10))
        later = await hold(db, 200, id="auth-2", expires_at=T0 + timedelta(minutes=30))
        forever = await hold(db, 100, id="auth-3")
        assert view.expires_at == T0 + timedelta(minutes=10)
        assert totals(await balance(db, wallet.id)) == (0, 1000, 600, 0)

        clock.advance(timedelta(minutes=9))
        assert await db.run_in_transaction(lambda s: ledger.expire_holds(s)) == []

        # Past its deadline, before the job ran: it can no longer be posted.
        clock.advance(timedelta(minutes=1))
        error = await refused(post_hold(db, "auth-1"), "hold_expired")
        assert error.fields["expires_at"] == "2026-03-01T09:10:00Z"
        assert (await get_hold(db, "auth-1")).status == "pending"
        assert totals(await balance(db, wallet.id)) == (0, 1000, 600, 0)

        clock.advance(timedelta(minutes=1))
        expired = await db.run_in_transaction(lambda s: ledger.expire_holds(s))
        assert expired == ["auth-1"]
        released = await get_hold(db, "auth-1")
        assert released.status == "expired"
        assert released.resolved_at == T0 + timedelta(minutes=11)
        assert released.post_journal is None
        assert totals(await balance(db, wallet.id)) == (0, 1000, 300, 0)
        assert totals(await balance(db, merchant.id)) == (0, 0, 0, 300)
        assert await db.run_in_transaction(lambda s: ledger.expire_holds(s)) == []
        await refused(post_hold(db, "auth-1"), "hold_already_resolved")
        await refused(void_hold(db, "auth-1"), "hold_already_resolved")

        # The other holds: one posts before its deadline, the one without a deadline stays.
        await post_hold(db, later.id)
        clock.advance(timedelta(days=365))
        assert await expire_due_holds(db) == 0
        assert (await get_hold(db, forever.id)).status == "pending"
        assert totals(await balance(db, wallet.id)) == (200, 1000, 100, 0)
        assert totals(await balance(db, merchant.id)) == (0, 200, 0, 100)


async def test_expiry_job_releases_many_holds(db: Database) -> None:
    clock = FrozenClock(T0)
    with use_clock(clock):
        wallet, _ = await books(db)
        for minute in range(1, 131):
            await hold(db, 1, expires_at=T0 + timedelta(minutes=minute))
        clock.advance(timedelta(minutes=120))
        assert await expire_due_holds(db) == 120
        assert totals(await balance(db, wallet.id)) == (0, 1000, 10, 0)
        clock.advance(timedelta(minutes=10))
        assert await expire_due_holds(db) == 10
        assert totals(await balance(db, wallet.id)) == (0, 1000, 0, 0)
        statuses = await scalar(db, "SELECT count(*) FROM ledger_holds WHERE status = 'expired'")
        assert int(statuses) == 130


async def test_holds_on_a_hot_account(db: Database) -> None:
    wallet, _ = await books(db, funds=100_000)
    hot = await open_account(db, "platform:clearing", shards=16)
    held = []
    for amount in range(1, 41):
        view, _ = await db.run_in_transaction(
            lambda s, a=amount: ledger.create_hold(s, transfer("wallet:w1", "platform:clearing", a))
        )
        held.append(view)
    reserved = sum(range(1, 41))
    assert totals(await balance(db, hot.id)) == (0, 0, 0, reserved)
    assert totals(await balance(db, wallet.id)) == (0, 100_000, reserved, 0)

    posted_total = 0
    for i, view in enumerate(held):
        amount = view.postings[0].amount
        if i % 3 == 0:
            await void_hold(db, view.id)
        elif i % 3 == 1:
            await post_hold(db, view.id)
            posted_total += amount
        else:
            part = (amount + 1) // 2
            await post_hold(
                db,
                view.id,
                postings=(p("wallet:w1", "debit", part), p(hot.id, "credit", part)),
            )
            posted_total += part

    assert totals(await balance(db, hot.id)) == (0, posted_total, 0, 0)
    assert totals(await balance(db, wallet.id)) == (posted_total, 100_000, 0, 0)
    # Every shard's pending total is back to zero: releases hit the shard the hold used.
    rows = await scalar(
        db,
        "SELECT count(*) FROM ledger_balances WHERE account_id = :a"
        " AND (debits_pending <> 0 OR credits_pending <> 0)",
        a=hot.id,
    )
    assert int(rows) == 0
    used = await scalar(
        db,
        "SELECT count(DISTINCT shard) FROM ledger_entries WHERE account_id = :a",
        a=hot.id,
    )
    assert int(used) >= 4

    # A hot account on the debit side of a hold.
    pool = await open_account(db, "platform:pool", side="debit", shards=8)
    source = await db.run_in_transaction(
        lambda s: ledger.create_hold(
            s,
            JournalSpec(
                (
                    PostingSpec("platform:pool", Side.DEBIT, 50, "CNY"),
                    PostingSpec("merchant:m1", Side.CREDIT, 50, "CNY"),
                )
            ),
        )
    )
    assert totals(await balance(db, pool.id)) == (0, 0, 50, 0)
    await post_hold(
        db, source[0].id, postings=(p("platform:pool", "debit", 20), p("merchant:m1", "credit", 20))
    )
    assert totals(await balance(db, pool.id)) == (20, 0, 0, 0)
    assert (await balance(db, pool.id)).posted == 20
