"""Journals: posting, idempotent repeats, reversals, batches, currencies, hot accounts,
balances in time, listings and bulk account opening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import AccountView, JournalOutcome, JournalSpec, Side
from tests.conftest import POSTGRES
from tests.ledger.helpers import (
    balance,
    open_account,
    p,
    post,
    refused,
    scalar,
    totals,
    transfer,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def books(db: Database) -> tuple[AccountView, AccountView, AccountView]:
    """A bank (debit-normal, no limit), a wallet that may not overdraw and a sink."""
    bank = await open_account(db, "bank:custody", side="debit")
    wallet = await open_account(db, "wallet:w1", no_overdraft=True)
    sink = await open_account(db, "merchant:m1")
    return bank, wallet, sink


async def journal_count(db: Database) -> int:
    return int(await scalar(db, "SELECT count(*) FROM ledger_journals"))


async def entry_count(db: Database) -> int:
    return int(await scalar(db, "SELECT count(*) FROM ledger_entries"))


def statuses(outcomes: list[JournalOutcome]) -> list[tuple[int, str, str | None]]:
    return [(o.index, o.status, o.error.code if o.error else None) for o in outcomes]


async def batch(db: Database, specs: list[JournalSpec]) -> list[JournalOutcome]:
    return await db.run_in_transaction(lambda s: ledger.post_journals(s, specs))


# --- posting ---------------------------------------------------------------------------


async def test_post_journal_writes_entries_and_totals(db: Database) -> None:
    bank, wallet, _ = await books(db)
    spec = JournalSpec(
        id="j-1",
        description="top up",
        metadata={"order": "o-1"},
        postings=(p("bank:custody", "debit", 500), p("wallet:w1", "credit", 500)),
    )
    view, created = await post(db, spec)

    assert created is True
    assert view.id == "j-1"
    assert view.kind == "standard"
    assert view.description == "top up"
    assert view.metadata == {"order": "o-1"}
    assert view.reverses_journal_id is None and view.hold_id is None
    assert [
        (e.account_id, e.account_code, e.side, e.amount, e.currency, e.pending)
        for e in view.postings
    ] == [
        (bank.id, "bank:custody", Side.DEBIT, 500, "CNY", False),
        (wallet.id, "wallet:w1", Side.CREDIT, 500, "CNY", False),
    ]
    assert all(e.journal_id == "j-1" and e.posted_at == view.posted_at for e in view.postings)

    assert totals(await balance(db, bank.id)) == (500, 0, 0, 0)
    assert totals(await balance(db, wallet.id)) == (0, 500, 0, 0)
    assert (await balance(db, bank.id)).posted == 500  # debit-normal
    assert (await balance(db, wallet.id)).posted == 500  # credit-normal
    assert (await balance(db, wallet.id)).available == 500

    stored = await db.run_in_transaction(lambda s: ledger.get_journal(s, "j-1"))
    assert stored.postings == view.postings
    assert stored.posted_at == view.posted_at
    assert await journal_count(db) == 1
    assert await entry_count(db) == 2


async def test_journal_metadata_is_stored(db: Database) -> None:
    """Regression: the SQLite store once dropped it (ORM key 'metadata_' vs column 'metadata')."""
    await books(db)
    spec = JournalSpec(
        id="j-meta",
        description="with metadata",
        metadata={"order": "o-1", "channel": "app"},
        postings=(p("bank:custody", "debit", 500), p("wallet:w1", "credit", 500)),
    )
    await post(db, spec)
    await db.run_in_transaction(lambda s: ledger.reverse_journal(s, "j-meta", reversal_id="r-meta"))
    await post(db, transfer("bank:custody", "wallet:w1", 100))
    await db.run_in_transaction(
        lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 5, id="h-meta"))
    )
    await db.run_in_transaction(lambda s: ledger.post_hold(s, "h-meta", journal_id="c-meta"))

    async def stored(journal_id: str) -> dict[str, object]:
        view = await db.run_in_transaction(lambda s: ledger.get_journal(s, journal_id))
        return view.metadata

    assert await stored("j-meta") == {"order": "o-1", "channel": "app"}
    assert await stored("r-meta") == {"reverses": "j-meta"}
    assert await stored("c-meta") == {"hold": "h-meta"}
    # A repeat returns the stored journal: its metadata too.
    again, created = await post(db, spec)
    assert created is False
    assert again.metadata == {"order": "o-1", "channel": "app"}


async def test_generated_ids_are_distinct(db: Database) -> None:
    await books(db)
    first, _ = await post(db, transfer("bank:custody", "wallet:w1", 1))
    second, _ = await post(db, transfer("bank:custody", "wallet:w1", 1))
    assert first.id.startswith("jrn_") and second.id.startswith("jrn_")
    assert first.id != second.id
    assert await journal_count(db) == 2


async def test_repeat_with_same_content_returns_the_first_journal(db: Database) -> None:
    bank, wallet, _ = await books(db)
    first, created = await post(db, transfer("bank:custody", "wallet:w1", 500, id="pay-42"))
    assert created is True

    again, created = await post(db, transfer("bank:custody", "wallet:w1", 500, id="pay-42"))
    assert created is False
    assert again.id == "pay-42"
    assert [e.id for e in again.postings] == [e.id for e in first.postings]
    assert again.posted_at == first.posted_at

    # Naming the accounts by id instead of by code is the same content.
    by_id, created = await post(db, transfer(bank.id, wallet.id, 500, id="pay-42"))
    assert created is False
    assert [e.id for e in by_id.postings] == [e.id for e in first.postings]

    assert (await balance(db, wallet.id)).posted == 500
    assert await journal_count(db) == 1
    assert await entry_count(db) == 2


async def test_repeat_with_different_content_conflicts(db: Database) -> None:
    _, wallet, _ = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 500, id="pay-42"))

    error = await refused(
        post(db, transfer("bank:custody", "wallet:w1", 501, id="pay-42")), "journal_conflict"
    )
    assert error.param == "id"
    await refused(
        post(db, transfer("wallet:w1", "bank:custody", 500, id="pay-42")), "journal_conflict"
    )
    changed = JournalSpec(
        id="pay-42",
        description="something else",
        postings=(p("bank:custody", "debit", 500), p("wallet:w1", "credit", 500)),
    )
    await refused(post(db, changed), "journal_conflict")

    assert (await balance(db, wallet.id)).posted == 500
    assert await journal_count(db) == 1


async def test_refused_journals_write_nothing(db: Database) -> None:
    bank, wallet, _ = await books(db)
    await open_account(db, "fx:usd", currency="USD")
    await refused(
        post(
            db, JournalSpec(postings=(p("bank:custody", "debit", 5), p("wallet:w1", "credit", 4)))
        ),
        "journal_unbalanced",
    )
    await refused(
        post(db, JournalSpec(postings=(p("bank:custody", "debit", 5),))), "journal_too_few_postings"
    )
    await refused(post(db, transfer("bank:custody", "nowhere", 5)), "account_not_found")
    await refused(post(db, transfer("wallet:w1", "bank:custody", 1)), "insufficient_funds")
    await refused(post(db, transfer("bank:custody", "wallet:w1", 0)), "amount_invalid")
    # An account named by id must hold the posting's currency.
    usd = await db.run_in_transaction(lambda s: ledger.find_account(s, "fx:usd", "USD"))
    assert usd is not None
    await refused(post(db, transfer(bank.id, usd.id, 5)), "currency_mismatch")
    await refused(post(db, transfer("bank:custody", "wallet:w1", 5, id="bad id")), "invalid_id")

    assert await journal_count(db) == 0
    assert totals(await balance(db, wallet.id)) == (0, 0, 0, 0)


async def test_no_overdraft_allows_exactly_the_balance(db: Database) -> None:
    _, wallet, sink = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 100))
    await refused(post(db, transfer("wallet:w1", "merchant:m1", 101)), "insufficient_funds")
    await post(db, transfer("wallet:w1", "merchant:m1", 100))
    assert totals(await balance(db, wallet.id)) == (100, 100, 0, 0)
    assert (await balance(db, wallet.id)).posted == 0
    assert (await balance(db, sink.id)).posted == 100
    await refused(post(db, transfer("wallet:w1", "merchant:m1", 1)), "insufficient_funds")


async def test_credit_limit_refuses_credits_beyond_debits(db: Database) -> None:
    await books(db)
    limited = await db.run_in_transaction(
        lambda s: ledger.create_account(
            s,
            code="settlement:due",
            currency="CNY",
            normal_side=Side.DEBIT,
            credits_must_not_exceed_debits=True,
        )
    )
    await refused(post(db, transfer("bank:custody", "settlement:due", 1)), "exceeds_debits")
    await post(db, transfer("settlement:due", "bank:custody", 10))
    await post(db, transfer("bank:custody", "settlement:due", 10))
    await refused(post(db, transfer("bank:custody", "settlement:due", 1)), "exceeds_debits")
    assert totals(await balance(db, limited.id)) == (10, 10, 0, 0)


# --- reversals -------------------------------------------------------------------------


async def test_reversal_posts_the_mirror_image(db: Database) -> None:
    bank, wallet, _ = await books(db)
    original, _ = await post(db, transfer("bank:custody", "wallet:w1", 300, id="top-up-1"))

    reversal, created = await db.run_in_transaction(lambda s: ledger.reverse_journal(s, "top-up-1"))
    assert created is True
    assert reversal.kind == "reversal"
    assert reversal.reverses_journal_id == "top-up-1"
    assert reversal.metadata == {"reverses": "top-up-1"}
    assert reversal.description == "Reversal of top-up-1"
    assert [(e.account_id, e.side, e.amount, e.currency) for e in reversal.postings] == [
        (e.account_id, e.side.opposite, e.amount, e.currency) for e in original.postings
    ]
    assert all(not e.pending for e in reversal.postings)
    assert await db.run_in_transaction(lambda s: ledger.reversal_of(s, "top-up-1")) == reversal.id

    assert totals(await balance(db, bank.id)) == (300, 300, 0, 0)
    assert totals(await balance(db, wallet.id)) == (300, 300, 0, 0)
    assert (await balance(db, wallet.id)).posted == 0
    assert await journal_count(db) == 2
    assert await entry_count(db) == 4


async def test_reversing_twice_is_refused(db: Database) -> None:
    _, wallet, _ = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 300, id="top-up-1"))
    first, created = await db.run_in_transaction(
        lambda s: ledger.reverse_journal(s, "top-up-1", reversal_id="rev-1")
    )
    assert created is True and first.id == "rev-1"

    await refused(
        db.run_in_transaction(lambda s: ledger.reverse_journal(s, "top-up-1")),
        "journal_already_reversed",
    )
    await refused(
        db.run_in_transaction(lambda s: ledger.reverse_journal(s, "top-up-1", reversal_id="rev-2")),
        "journal_already_reversed",
    )
    # A repeat of the same reversal (same reversal id) returns the first one.
    again, created = await db.run_in_transaction(
        lambda s: ledger.reverse_journal(s, "top-up-1", reversal_id="rev-1")
    )
    assert created is False
    assert again.id == "rev-1"
    assert [e.id for e in again.postings] == [e.id for e in first.postings]

    assert (await balance(db, wallet.id)).posted == 0
    assert await journal_count(db) == 2
    await refused(
        db.run_in_transaction(lambda s: ledger.reverse_journal(s, "missing")), "journal_not_found"
    )


async def test_reversals_and_holds_are_not_reversible(db: Database) -> None:
    _, wallet, _ = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 300, id="top-up-1"))
    reversal, _ = await db.run_in_transaction(lambda s: ledger.reverse_journal(s, "top-up-1"))
    await refused(
        db.run_in_transaction(lambda s: ledger.reverse_journal(s, reversal.id)),
        "journal_not_reversible",
    )

    await post(db, transfer("bank:custody", "wallet:w1", 300))
    hold, _ = await db.run_in_transaction(
        lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 100, id="hold-1"))
    )
    assert hold.id == "hold-1"
    await refused(
        db.run_in_transaction(lambda s: ledger.reverse_journal(s, hold.id)),
        "journal_not_reversible",
    )
    assert totals(await balance(db, wallet.id)) == (300, 600, 100, 0)
    assert await journal_count(db) == 4


async def test_hold_posting_journal_can_be_reversed(db: Database) -> None:
    _, wallet, sink = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 300))
    await db.run_in_transaction(
        lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 100, id="hold-1"))
    )
    held = await db.run_in_transaction(lambda s: ledger.post_hold(s, "hold-1", journal_id="cap-1"))
    assert held.post_journal is not None and held.post_journal.id == "cap-1"
    reversal, created = await db.run_in_transaction(lambda s: ledger.reverse_journal(s, "cap-1"))
    assert created is True
    assert reversal.reverses_journal_id == "cap-1"
    assert (await balance(db, wallet.id)).posted == 300
    assert (await balance(db, sink.id)).posted == 0


async def test_reversal_that_would_overdraw_is_refused(db: Database) -> None:
    _, wallet, sink = await books(db)
    await post(db, transfer("bank:custody", "wallet:w1", 100, id="top-up-1"))
    await post(db, transfer("wallet:w1", "merchant:m1", 60))

    error = await refused(
        db.run_in_transaction(lambda s: ledger.reverse_journal(s, "top-up-1")),
        "insufficient_funds",
    )
    assert error.fields["account"] == "wallet:w1"
    assert await db.run_in_transaction(lambda s: ledger.reversal_of(s, "top-up-1")) is None
    assert totals(await balance(db, wallet.id)) == (60, 100, 0, 0)
    assert await journal_count(db) == 2

    # Once the money is back, the reversal goes through.
    await post(db, transfer("merchant:m1", "wallet:w1", 60))
    reversal, created = await db.run_in_transaction(lambda s: ledger.reverse_journal(s, "top-up-1"))
    assert created is True and reversal.reverses_journal_id == "top-up-1"
    assert totals(await balance(db, wallet.id)) == (160, 160, 0, 0)
    assert (await balance(db, sink.id)).posted == 0


# --- batches ---------------------------------------------------------------------------


async def test_batch_accepts_and_refuses_each_journal_on_its_own(db: Database) -> None:
    _, wallet, sink = await books(db)
    outcomes = await batch(
        db,
        [
            transfer("bank:custody", "wallet:w1", 100, id="b-0"),
            transfer("wallet:w1", "merchant:m1", 500, id="b-1"),
            # Sees the first journal of the batch already applied.
            transfer("wallet:w1", "merchant:m1", 60, id="b-2"),
            JournalSpec(
                id="b-3", postings=(p("wallet:w1", "debit", 5), p("merchant:m1", "credit", 6))
            ),
            transfer("wallet:w1", "merchant:m1", 41, id="b-4"),
            transfer("wallet:w1", "merchant:m1", 40, id="b-5"),
        ],
    )
    assert statuses(outcomes) == [
        (0, "created", None),
        (1, "rejected", "insufficient_funds"),
        (2, "created", None),
        (3, "rejected", "journal_unbalanced"),
        (4, "rejected", "insufficient_funds"),
        (5, "created", None),
    ]
    assert outcomes[0].journal is not None and outcomes[0].journal.id == "b-0"
    assert outcomes[1].journal is None
    assert totals(await balance(db, wallet.id)) == (100, 100, 0, 0)
    assert (await balance(db, sink.id)).posted == 100
    assert await journal_count(db) == 3
    for missing in ("b-1", "b-3", "b-4"):
        await refused(
            db.run_in_transaction(lambda s, j=missing: ledger.get_journal(s, j)),
            "journal_not_found",
        )

    # The same batch again: accepted ones are duplicates, refused ones are tried again.
    again = await batch(
        db,
        [
            transfer("bank:custody", "wallet:w1", 100, id="b-0"),
            transfer("wallet:w1", "merchant:m1", 500, id="b-1"),
        ],
    )
    assert statuses(again) == [(0, "duplicate", None), (1, "rejected", "insufficient_funds")]
    assert again[0].journal is not None and again[0].journal.id == "b-0"
    assert await journal_count(db) == 3


async def test_linked_chain_stands_or_falls_together(db: Database) -> None:
    _, wallet, sink = await books(db)
    outcomes = await batch(
        db,
        [
            JournalSpec(transfer("bank:custody", "wallet:w1", 100).postings, "c-0", linked=True),
            JournalSpec(transfer("wallet:w1", "merchant:m1", 150).postings, "c-1", linked=True),
            JournalSpec(transfer("bank:custody", "merchant:m1", 1).postings, "c-2"),
            # Not linked to the failed chain; the chain's 100 must not be visible to it.
            JournalSpec(transfer("wallet:w1", "merchant:m1", 50).postings, "c-3"),
            JournalSpec(transfer("bank:custody", "wallet:w1", 70).postings, "c-4"),
        ],
    )
    assert statuses(outcomes) == [
        (0, "rejected", "linked_journal_failed"),
        (1, "rejected", "insufficient_funds"),
        (2, "rejected", "linked_journal_failed"),
        (3, "rejected", "insufficient_funds"),
        (4, "created", None),
    ]
    assert await journal_count(db) == 1
    assert totals(await balance(db, wallet.id)) == (0, 70, 0, 0)
    assert totals(await balance(db, sink.id)) == (0, 0, 0, 0)

    # A chain whose later journal relies on the earlier one succeeds as a whole.
    outcomes = await batch(
        db,
        [
            JournalSpec(transfer("bank:custody", "wallet:w1", 100).postings, "d-0", linked=True),
            JournalSpec(transfer("wallet:w1", "merchant:m1", 170).postings, "d-1"),
        ],
    )
    assert statuses(outcomes) == [(0, "created", None), (1, "created", None)]
    assert totals(await balance(db, wallet.id)) == (170, 170, 0, 0)
    assert (await balance(db, sink.id)).posted == 170


async def test_chain_fails_when_one_journal_is_invalid(db: Database) -> None:
    _, wallet, _ = await books(db)
    outcomes = await batch(
        db,
        [
            JournalSpec(transfer("bank:custody", "wallet:w1", 100).postings, "c-0", linked=True),
            JournalSpec(transfer("bank:custody", "nowhere", 5).postings, "c-1", linked=True),
            JournalSpec(transfer("bank:custody", "wallet:w1", 7).postings, "c-2"),
            JournalSpec(
                (p("bank:custody", "debit", 3), p("wallet:w1", "credit", 2)), "c-3", linked=True
            ),
            JournalSpec(transfer("bank:custody", "wallet:w1", 9).postings, "c-4"),
        ],
    )
    assert statuses(outcomes) == [
        (0, "rejected", "linked_journal_failed"),
        (1, "rejected", "account_not_found"),
        (2, "rejected", "linked_journal_failed"),
        (3, "rejected", "journal_unbalanced"),
        (4, "rejected", "linked_journal_failed"),
    ]
    assert await journal_count(db) == 0
    assert totals(await balance(db, wallet.id)) == (0, 0, 0, 0)


async def test_last_journal_cannot_link_on(db: Database) -> None:
    _, wallet, _ = await books(db)
    outcomes = await batch(
        db,
        [
            transfer("bank:custody", "wallet:w1", 10, id="l-0"),
            JournalSpec(transfer("bank:custody", "wallet:w1", 20).postings, "l-1", linked=True),
        ],
    )
    assert statuses(outcomes) == [(0, "created", None), (1, "rejected", "validation_error")]
    assert outcomes[1].error is not None and outcomes[1].error.param == "linked"

    outcomes = await batch(
        db,
        [
            JournalSpec(transfer("bank:custody", "wallet:w1", 30).postings, "l-2", linked=True),
            JournalSpec(transfer("bank:custody", "wallet:w1", 40).postings, "l-3", linked=True),
        ],
    )
    assert statuses(outcomes) == [
        (0, "rejected", "linked_journal_failed"),
        (1, "rejected", "validation_error"),
    ]
    assert (await balance(db, wallet.id)).posted == 10

    # post_journal takes a single journal: its link flag means nothing there.
    view, created = await post(
        db, JournalSpec(transfer("bank:custody", "wallet:w1", 5).postings, "l-4", linked=True)
    )
    assert created is True and view.id == "l-4"
    assert (await balance(db, wallet.id)).posted == 15


async def test_same_id_twice_in_one_batch(db: Database) -> None:
    _, wallet, _ = await books(db)
    outcomes = await batch(
        db,
        [
            transfer("bank:custody", "wallet:w1", 10, id="twice"),
            transfer("bank:custody", "wallet:w1", 10, id="twice"),
            transfer("bank:custody", "wallet:w1", 20, id="twice"),
            transfer("bank:custody", "wallet:w1", 30, id="once"),
        ],
    )
    assert statuses(outcomes) == [
        (0, "created", None),
        (1, "rejected", "validation_error"),
        (2, "rejected", "validation_error"),
        (3, "created", None),
    ]
    assert outcomes[1].error is not None and outcomes[1].error.param == "id"
    assert (await balance(db, wallet.id)).posted == 40
    assert await journal_count(db) == 2


async def test_batch_size_is_limited(db: Database) -> None:
    await books(db)
    specs = [transfer("bank:custody", "wallet:w1", 1)] * (ledger.MAX_BATCH + 1)
    await refused(batch(db, specs), "batch_too_large")
    await refused(ledger.post_journals_standalone(db, specs), "batch_too_large")
    assert await journal_count(db) == 0


# --- currencies ------------------------------------------------------------------------


async def test_multi_currency_journal_balances_per_currency(db: Database) -> None:
    customer_cny = await open_account(db, "customer:c1", no_overdraft=True)
    customer_usd = await open_account(db, "customer:c1", currency="USD", no_overdraft=True)
    fx_cny = await open_account(db, "fx:pool", side="debit")
    fx_usd = await open_account(db, "fx:pool", currency="USD", side="debit")
    await post(db, transfer("fx:pool", "customer:c1", 1000))

    exchange = JournalSpec(
        id="fx-1",
        postings=(
            p("customer:c1", "debit", 720),
            p("fx:pool", "credit", 720),
            p("fx:pool", "debit", 100, "USD"),
            p("customer:c1", "credit", 100, "USD"),
        ),
    )
    view, created = await post(db, exchange)
    assert created is True
    assert [(e.account_id, e.currency, e.side, e.amount) for e in view.postings] == [
        (customer_cny.id, "CNY", Side.DEBIT, 720),
        (fx_cny.id, "CNY", Side.CREDIT, 720),
        (fx_usd.id, "USD", Side.DEBIT, 100),
        (customer_usd.id, "USD", Side.CREDIT, 100),
    ]
    assert (await balance(db, customer_cny.id)).posted == 280
    assert (await balance(db, customer_usd.id)).posted == 100
    assert (await balance(db, fx_cny.id)).posted == 280
    assert (await balance(db, fx_usd.id)).posted == 100

    # Equal in total but not per currency.
    error = await refused(
        post(
            db,
            JournalSpec(
                postings=(p("fx:pool", "debit", 100, "USD"), p("customer:c1", "credit", 100, "CNY"))
            ),
        ),
        "journal_unbalanced",
    )
    assert error.fields["currency"] == "CNY"
    await refused(
        post(
            db,
            JournalSpec(
                postings=(
                    p("fx:pool", "debit", 100, "USD"),
                    p("customer:c1", "credit", 100, "USD"),
                    p("fx:pool", "debit", 3),
                    p("customer:c1", "credit", 2),
                )
            ),
        ),
        "journal_unbalanced",
    )
    # A code that exists only in CNY cannot take a USD posting.
    await refused(
        post(db, transfer("fx:pool", "bank:none", 1, currency="USD")), "account_not_found"
    )
    assert await journal_count(db) == 2


# --- hot accounts ----------------------------------------------------------------------


async def test_hot_account_balance_is_the_sum_of_its_shards(db: Database) -> None:
    bank = await open_account(db, "bank:custody", side="debit")
    hot = await open_account(db, "platform:fees", shards=16)
    assert hot.shards == 16
    assert (
        int(
            await scalar(db, "SELECT count(*) FROM ledger_balances WHERE account_id = :a", a=hot.id)
        )
        == 16
    )

    for amount in range(1, 121):
        await post(db, transfer("bank:custody", "platform:fees", amount))
    # A batch puts all its journals on one shard; another 30 journals in one go.
    outcomes = await batch(db, [transfer("bank:custody", hot.id, 1000) for _ in range(30)])
    assert {o.status for o in outcomes} == {"created"}
    expected = sum(range(1, 121)) + 30_000

    view = await balance(db, hot.id)
    assert totals(view) == (0, expected, 0, 0)
    assert view.posted == expected
    assert (await balance(db, bank.id)).posted == expected

    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT shard, credits_posted FROM ledger_balances WHERE account_id = :a"),
                {"a": hot.id},
            )
        ).all()
        by_entries = dict(
            (
                await conn.execute(
                    text(
                        "SELECT shard, sum(amount) FROM ledger_entries WHERE account_id = :a"
                        " GROUP BY shard"
                    ),
                    {"a": hot.id},
                )
            ).all()
        )
    per_shard = {shard: credits for shard, credits in rows}
    assert sum(per_shard.values()) == expected
    # Postings spread over the shards, and each shard's total is the sum of its entries.
    assert len([s for s, c in per_shard.items() if c > 0]) >= 4
    assert {s: c for s, c in per_shard.items() if c > 0} == {
        s: int(v) for s, v in by_entries.items()
    }

    # A hot account as the paying side.
    await post(db, transfer("platform:fees", "bank:custody", 5000))
    assert (await balance(db, hot.id)).posted == expected - 5000


async def test_hot_account_cannot_carry_a_limit(db: Database) -> None:
    await refused(
        open_account(db, "hot:limited", shards=4, no_overdraft=True), "account_flags_invalid"
    )
    await refused(open_account(db, "hot:many", shards=257), "validation_error")


# --- balances in time ------------------------------------------------------------------


async def test_balance_as_of_a_past_moment(db: Database) -> None:
    clock = FrozenClock(T0)
    with use_clock(clock):
        _, wallet, sink = await books(db)
        clock.set(T0 + timedelta(hours=1))
        first, _ = await post(db, transfer("bank:custody", "wallet:w1", 100, id="t-1"))
        assert first.posted_at == T0 + timedelta(hours=1)
        clock.set(T0 + timedelta(hours=2))
        await post(db, transfer("bank:custody", "wallet:w1", 200, id="t-2"))
        clock.set(T0 + timedelta(hours=2, minutes=30))
        await db.run_in_transaction(
            lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 50, id="h-1"))
        )
        clock.set(T0 + timedelta(hours=3))
        await db.run_in_transaction(lambda s: ledger.reverse_journal(s, "t-1"))
        clock.set(T0 + timedelta(hours=4))
        await db.run_in_transaction(lambda s: ledger.post_hold(s, "h-1"))
        clock.set(T0 + timedelta(hours=5))

        async def posted_at(hours: float) -> tuple[int, int, int, int]:
            view = await balance(db, wallet.id, as_of=T0 + timedelta(hours=hours))
            assert view.as_of == T0 + timedelta(hours=hours)
            return totals(view)

        assert await posted_at(0.5) == (0, 0, 0, 0)
        assert await posted_at(1) == (0, 100, 0, 0)  # inclusive
        assert await posted_at(1.5) == (0, 100, 0, 0)
        assert await posted_at(2) == (0, 300, 0, 0)
        assert await posted_at(2.75) == (0, 300, 0, 0)  # the hold is not posted money
        assert await posted_at(3) == (100, 300, 0, 0)
        assert await posted_at(4) == (150, 300, 0, 0)
        assert await posted_at(10) == (150, 300, 0, 0)
        assert totals(await balance(db, wallet.id)) == (150, 300, 0, 0)
        assert (await balance(db, sink.id, as_of=T0 + timedelta(hours=3.5))).posted == 0
        assert (await balance(db, sink.id, as_of=T0 + timedelta(hours=4))).posted == 50
        # A naive moment is taken as UTC.
        naive = (T0 + timedelta(hours=2)).replace(tzinfo=None)
        assert totals(await balance(db, wallet.id, as_of=naive)) == (0, 300, 0, 0)


# --- listings --------------------------------------------------------------------------


async def test_entries_listing_and_pagination(db: Database) -> None:
    _, wallet, _ = await books(db)
    posted = []
    for amount in range(1, 8):
        view, _ = await post(db, transfer("bank:custody", "wallet:w1", amount))
        posted.append(view.postings[1].id)
    hold, _ = await db.run_in_transaction(
        lambda s: ledger.create_hold(s, transfer("wallet:w1", "merchant:m1", 3))
    )
    newest_first = list(reversed(posted))

    pages, cursor, more = [], None, True
    while more:
        page, more = await db.run_in_transaction(
            lambda s, c=cursor: ledger.list_entries(s, wallet.id, limit=3, starting_after=c)
        )
        pages.append([e.id for e in page])
        assert all(e.account_id == wallet.id and e.account_code == "wallet:w1" for e in page)
        assert all(not e.pending for e in page)
        cursor = page[-1].id if page else None
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7]]

    everything, more = await db.run_in_transaction(
        lambda s: ledger.list_entries(s, wallet.id, limit=100, include_pending=True)
    )
    assert more is False
    assert [e.id for e in everything] == [hold.postings[0].id, *newest_first]
    assert everything[0].pending is True and everything[0].amount == 3
    assert [e.amount for e in everything[1:]] == [7, 6, 5, 4, 3, 2, 1]

    exact, more = await db.run_in_transaction(lambda s: ledger.list_entries(s, wallet.id, limit=7))
    assert len(exact) == 7 and more is False
    await refused(
        db.run_in_transaction(lambda s: ledger.list_entries(s, "acct_missing", limit=3)),
        "account_not_found",
    )


async def test_list_journals_by_account_and_pagination(db: Database) -> None:
    clock = FrozenClock(T0)
    with use_clock(clock):
        bank, wallet, _ = await books(db)
        other = await open_account(db, "wallet:w2")
        touching: list[str] = []
        for minute in range(6):
            clock.set(T0 + timedelta(minutes=minute))
            # Two journals at the same instant: the id breaks the tie.
            a, _ = await post(db, transfer("bank:custody", "wallet:w1", 10 + minute))
            b, _ = await post(db, transfer("bank:custody", "wallet:w2", 10 + minute))
            touching.append(a.id)
            if minute % 2:
                c, _ = await post(db, transfer("wallet:w1", "merchant:m1", 1))
                touching.append(c.id)
            del b

    expected = list(reversed(touching))  # newest first
    walked: list[str] = []
    cursor, more, pages = None, True, 0
    while more:
        page, more = await db.run_in_transaction(
            lambda s, c=cursor: ledger.list_journals(
                s, limit=2, starting_after=c, account_id=wallet.id
            )
        )
        pages += 1
        assert len(page) <= 2
        walked.extend(j.id for j in page)
        assert all(any(e.account_id == wallet.id for e in j.postings) for j in page)
        cursor = page[-1].id if page else None
    assert walked == expected
    assert pages == 5  # 9 journals in pages of 2

    everything, more = await db.run_in_transaction(lambda s: ledger.list_journals(s, limit=100))
    assert more is False
    assert len(everything) == 15
    keys = [(j.posted_at, j.id) for j in everything]
    assert keys == sorted(keys, reverse=True)

    only_other, _ = await db.run_in_transaction(
        lambda s: ledger.list_journals(s, limit=100, account_id=other.id)
    )
    assert len(only_other) == 6
    assert all(j.postings[1].account_id == other.id for j in only_other)
    bank_journals, _ = await db.run_in_transaction(
        lambda s: ledger.list_journals(s, limit=100, account_id=bank.id)
    )
    assert len(bank_journals) == 12
    await refused(
        db.run_in_transaction(lambda s: ledger.list_journals(s, limit=2, starting_after="nope")),
        "journal_not_found",
    )


# --- the standalone (benchmark) path ---------------------------------------------------


async def test_post_journals_standalone(db: Database) -> None:
    _, wallet, sink = await books(db)
    specs = [
        transfer("bank:custody", "wallet:w1", 100, id="s-0"),
        transfer("wallet:w1", "merchant:m1", 500, id="s-1"),
        JournalSpec(transfer("wallet:w1", "merchant:m1", 30).postings, "s-2", linked=True),
        JournalSpec(transfer("wallet:w1", "merchant:m1", 80).postings, "s-3"),
        transfer("wallet:w1", "merchant:m1", 60, id="s-4"),
    ]
    outcomes = await ledger.post_journals_standalone(db, specs)
    assert statuses(outcomes) == [
        (0, "created", None),
        (1, "rejected", "insufficient_funds"),
        (2, "rejected", "linked_journal_failed"),
        (3, "rejected", "insufficient_funds"),
        (4, "created", None),
    ]
    created = outcomes[0].journal
    assert created is not None and created.id == "s-0" and created.kind == "standard"
    assert [(e.side, e.amount) for e in created.postings] == [
        (Side.DEBIT, 100),
        (Side.CREDIT, 100),
    ]
    # Committed: visible from another transaction.
    assert totals(await balance(db, wallet.id)) == (60, 100, 0, 0)
    assert (await balance(db, sink.id)).posted == 60
    stored = await db.run_in_transaction(lambda s: ledger.get_journal(s, "s-0"))
    assert [e.id for e in stored.postings] == [e.id for e in created.postings]

    again = await ledger.post_journals_standalone(
        db,
        [
            transfer("bank:custody", "wallet:w1", 100, id="s-0"),
            transfer("bank:custody", "wallet:w1", 999, id="s-4"),
            transfer("wallet:w1", "merchant:m1", 40, id="s-5"),
        ],
    )
    assert statuses(again) == [
        (0, "duplicate", None),
        (1, "rejected", "journal_conflict"),
        (2, "created", None),
    ]
    assert again[0].journal is not None
    assert [e.id for e in again[0].journal.postings] == [e.id for e in created.postings]
    assert totals(await balance(db, wallet.id)) == (100, 100, 0, 0)
    assert await journal_count(db) == 3

    # A hot account through the fast path.
    hot = await open_account(db, "platform:fees", shards=16)
    for _ in range(10):
        outs = await ledger.post_journals_standalone(
            db, [transfer("bank:custody", "platform:fees", 7) for _ in range(5)]
        )
        assert {o.status for o in outs} == {"created"}
    assert (await balance(db, hot.id)).posted == 350


@pytest.mark.skipif(not POSTGRES, reason="the raw asyncpg path exists only on PostgreSQL")
async def test_standalone_path_bypasses_the_session_on_postgres(db: Database) -> None:
    _, wallet, _ = await books(db)
    outcomes = await ledger.post_journals_standalone(
        db, [transfer("bank:custody", "wallet:w1", 10, id=f"pg-{i}") for i in range(50)]
    )
    assert [o.status for o in outcomes] == ["created"] * 50
    assert (await balance(db, wallet.id)).posted == 500
    assert await journal_count(db) == 50
    assert await entry_count(db) == 100


# --- accounts in bulk ------------------------------------------------------------------


async def test_create_accounts_in_bulk_is_all_or_none(db: Database) -> None:
    specs = [
        ledger.AccountSpec(
            "merchant:a:available", "CNY", Side.CREDIT, debits_must_not_exceed_credits=True
        ),
        ledger.AccountSpec("merchant:a:available", "USD", Side.CREDIT),
        ledger.AccountSpec("platform:hot", "CNY", Side.CREDIT, shards=8),
    ]
    views = await db.run_in_transaction(lambda s: ledger.create_accounts(s, specs))
    assert [(v.code, v.currency, v.shards, v.debits_must_not_exceed_credits) for v in views] == [
        ("merchant:a:available", "CNY", 1, True),
        ("merchant:a:available", "USD", 1, False),
        ("platform:hot", "CNY", 8, False),
    ]
    assert len({v.id for v in views}) == 3
    assert int(await scalar(db, "SELECT count(*) FROM ledger_accounts")) == 3
    assert int(await scalar(db, "SELECT count(*) FROM ledger_balances")) == 10
    for view in views:
        assert totals(await balance(db, view.id)) == (0, 0, 0, 0)

    taken = [
        ledger.AccountSpec("merchant:b:available", "CNY", Side.CREDIT),
        ledger.AccountSpec("merchant:a:available", "USD", Side.CREDIT),
        ledger.AccountSpec("merchant:c:available", "CNY", Side.CREDIT),
    ]
    error = await refused(
        db.run_in_transaction(lambda s: ledger.create_accounts(s, taken)), "account_code_taken"
    )
    assert error.fields == {"account": "merchant:a:available", "currency": "USD"}
    for code in ("merchant:b:available", "merchant:c:available"):
        found = await db.run_in_transaction(lambda s, c=code: ledger.find_account(s, c, "CNY"))
        assert found is None
    assert int(await scalar(db, "SELECT count(*) FROM ledger_accounts")) == 3
    assert int(await scalar(db, "SELECT count(*) FROM ledger_balances")) == 10

    twice = [
        ledger.AccountSpec("merchant:d:available", "CNY", Side.CREDIT),
        ledger.AccountSpec("merchant:d:available", "CNY", Side.CREDIT),
    ]
    await refused(
        db.run_in_transaction(lambda s: ledger.create_accounts(s, twice)), "validation_error"
    )
    bad = [
        ledger.AccountSpec("merchant:e:available", "CNY", Side.CREDIT),
        ledger.AccountSpec("not a code", "CNY", Side.CREDIT),
    ]
    await refused(
        db.run_in_transaction(lambda s: ledger.create_accounts(s, bad)), "account_code_invalid"
    )
    assert int(await scalar(db, "SELECT count(*) FROM ledger_accounts")) == 3

    # The same code again through create_account.
    await refused(open_account(db, "platform:hot"), "account_code_taken")
