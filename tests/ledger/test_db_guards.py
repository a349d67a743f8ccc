"""The database guards the ledger on its own, whatever the Python code does: journals balance
per currency (PostgreSQL, at commit), posted rows never change, and an entry's currency is its
account's currency."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payhub.db.session import Database, sqlstate
from tests.conftest import POSTGRES, requires_postgres
from tests.ledger.helpers import balance, open_account, post, scalar, totals, transfer

JOURNAL = (
    "INSERT INTO ledger_journals (id, kind, description, metadata, content_hash,"
    " reverses_journal_id, hold_id, posted_at)"
    " VALUES (:id, 'standard', NULL, '{}', 'raw', NULL, NULL, CURRENT_TIMESTAMP)"
)
ENTRY = (
    "INSERT INTO ledger_entries (id, journal_id, account_id, shard, side, amount, currency,"
    " pending, posted_at)"
    " VALUES (:id, :journal, :account, 0, :side, :amount, :currency, FALSE, CURRENT_TIMESTAMP)"
)


async def accounts(db: Database) -> tuple[str, str, str]:
    bank = await open_account(db, "bank:custody", side="debit")
    wallet = await open_account(db, "wallet:w1")
    usd = await open_account(db, "wallet:w1", currency="USD")
    return bank.id, wallet.id, usd.id


async def write_raw(
    conn: AsyncConnection, journal: str, lines: list[tuple[str, str, int, str]]
) -> None:
    await conn.execute(text(JOURNAL), {"id": journal})
    for i, (account, side, amount, currency) in enumerate(lines):
        await conn.execute(
            text(ENTRY),
            {
                "id": f"ent_{journal}_{i}",
                "journal": journal,
                "account": account,
                "side": side,
                "amount": amount,
                "currency": currency,
            },
        )


async def stored(db: Database, journal: str) -> tuple[int, int]:
    journals = await scalar(db, "SELECT count(*) FROM ledger_journals WHERE id = :j", j=journal)
    entries = await scalar(
        db, "SELECT count(*) FROM ledger_entries WHERE journal_id = :j", j=journal
    )
    return int(journals), int(entries)


# --- balanced journals (PostgreSQL: a deferred constraint trigger) ---------------------


@requires_postgres
async def test_balanced_raw_journal_commits(db: Database) -> None:
    bank, wallet, _ = await accounts(db)
    async with db.engine.connect() as conn:
        await write_raw(
            conn, "raw-ok", [(bank, "debit", 100, "CNY"), (wallet, "credit", 100, "CNY")]
        )
        await conn.commit()
    assert await stored(db, "raw-ok") == (1, 2)


@requires_postgres
@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param(
            [("bank", "debit", 100, "CNY"), ("wallet", "credit", 90, "CNY")],
            "does not balance in CNY",
            id="unbalanced",
        ),
        pytest.param([("bank", "debit", 100, "CNY")], "fewer than two postings", id="one-entry"),
        pytest.param(
            [("bank", "debit", 100, "CNY"), ("usd", "credit", 100, "USD")],
            "does not balance in",
            id="balanced-in-total-only",
        ),
        pytest.param(
            [
                ("bank", "debit", 100, "CNY"),
                ("wallet", "credit", 100, "CNY"),
                ("wallet", "credit", 1, "CNY"),
            ],
            "does not balance in CNY",
            id="three-entries",
        ),
    ],
)
async def test_unbalanced_raw_journal_fails_at_commit(
    db: Database, lines: list[tuple[str, str, int, str]], message: str
) -> None:
    bank, wallet, usd = await accounts(db)
    ids = {"bank": bank, "wallet": wallet, "usd": usd}
    async with db.engine.connect() as conn:
        # Every statement is accepted: the check is deferred to the commit.
        await write_raw(conn, "raw-bad", [(ids[a], s, n, c) for a, s, n, c in lines])
        assert int(
            (await conn.execute(text("SELECT count(*) FROM ledger_entries"))).scalar_one()
        ) == len(lines)
        with pytest.raises(IntegrityError) as failure:
            await conn.commit()
    assert sqlstate(failure.value) == "23514"
    assert message in str(failure.value)
    assert await stored(db, "raw-bad") == (0, 0)
    assert int(await scalar(db, "SELECT count(*) FROM ledger_entries")) == 0


@requires_postgres
async def test_one_bad_journal_fails_the_whole_transaction(db: Database) -> None:
    bank, wallet, _ = await accounts(db)
    async with db.engine.connect() as conn:
        await write_raw(conn, "raw-ok", [(bank, "debit", 5, "CNY"), (wallet, "credit", 5, "CNY")])
        await write_raw(conn, "raw-bad", [(bank, "debit", 5, "CNY"), (wallet, "credit", 4, "CNY")])
        with pytest.raises(IntegrityError):
            await conn.commit()
    assert await stored(db, "raw-ok") == (0, 0)
    assert await stored(db, "raw-bad") == (0, 0)


@requires_postgres
async def test_entries_added_later_to_a_committed_journal_must_balance(db: Database) -> None:
    bank, wallet, _ = await accounts(db)
    await post(db, transfer("bank:custody", "wallet:w1", 100, id="posted"))
    async with db.engine.connect() as conn:
        await conn.execute(
            text(ENTRY),
            {
                "id": "ent_extra",
                "journal": "posted",
                "account": wallet,
                "side": "credit",
                "amount": 1,
                "currency": "CNY",
            },
        )
        with pytest.raises(IntegrityError):
            await conn.commit()
    assert await stored(db, "posted") == (1, 2)
    del bank


# --- immutability (both databases: triggers) -------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = amount + 1 WHERE journal_id = 'j-1'",
        "UPDATE ledger_entries SET pending = TRUE WHERE journal_id = 'j-1'",
        "DELETE FROM ledger_entries WHERE journal_id = 'j-1'",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_journals SET description = 'changed' WHERE id = 'j-1'",
        "UPDATE ledger_journals SET content_hash = 'x' WHERE id = 'j-1'",
        "DELETE FROM ledger_journals WHERE id = 'j-1'",
    ],
)
async def test_posted_rows_cannot_change(db: Database, statement: str) -> None:
    await accounts(db)
    view, _ = await post(db, transfer("bank:custody", "wallet:w1", 100, id="j-1"))
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError) as failure:
            await conn.execute(text(statement))
        await conn.rollback()
    assert "immutable" in str(failure.value)
    if POSTGRES:
        assert sqlstate(failure.value) == "55000"

    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id, amount, pending FROM ledger_entries ORDER BY id"))
        ).all()
        journal = (
            await conn.execute(text("SELECT description, content_hash FROM ledger_journals"))
        ).all()
    assert [(r[0], r[1], bool(r[2])) for r in rows] == [(e.id, 100, False) for e in view.postings]
    assert len(journal) == 1 and journal[0][0] is None and journal[0][1] != "x"


async def test_balances_cannot_go_negative(db: Database) -> None:
    _, wallet, _ = await accounts(db)
    async with db.engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                text("UPDATE ledger_balances SET credits_posted = -1 WHERE account_id = :a"),
                {"a": wallet},
            )
        await conn.rollback()
    assert totals(await balance(db, wallet)) == (0, 0, 0, 0)


# --- currencies (both databases: a composite foreign key) ------------------------------


@pytest.mark.parametrize("currency", ["USD", "EUR"])
async def test_entry_currency_must_be_its_accounts(db: Database, currency: str) -> None:
    bank, wallet, _ = await accounts(db)
    async with db.engine.connect() as conn:
        await conn.execute(text(JOURNAL), {"id": "raw-fx"})
        with pytest.raises(IntegrityError) as failure:
            await conn.execute(
                text(ENTRY),
                {
                    "id": "ent_fx",
                    "journal": "raw-fx",
                    "account": bank,
                    "side": "debit",
                    "amount": 100,
                    "currency": currency,
                },
            )
        await conn.rollback()
    if POSTGRES:
        assert sqlstate(failure.value) == "23503"
        assert "fk_ledger_entries_account_currency" in str(failure.value)
    else:
        assert "FOREIGN KEY constraint failed" in str(failure.value)
    assert await stored(db, "raw-fx") == (0, 0)

    # The same rows in the account's own currency are fine.
    async with db.engine.connect() as conn:
        await write_raw(
            conn, "raw-cny", [(bank, "debit", 100, "CNY"), (wallet, "credit", 100, "CNY")]
        )
        await conn.commit()
    assert await stored(db, "raw-cny") == (1, 2)
