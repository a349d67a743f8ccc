"""Small builders shared by the ledger tests."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from sqlalchemy import text

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import (
    AccountView,
    BalanceView,
    JournalSpec,
    JournalView,
    PostingSpec,
    Side,
)


def p(account: str, side: str, amount: int, currency: str = "CNY") -> PostingSpec:
    return PostingSpec(account, Side(side), amount, currency)


def transfer(
    source: str, target: str, amount: int, *, id: str | None = None, currency: str = "CNY"
) -> JournalSpec:
    """Move `amount` from `source` (debited) to `target` (credited)."""
    return JournalSpec(
        id=id,
        postings=(p(source, "debit", amount, currency), p(target, "credit", amount, currency)),
    )


async def open_account(
    db: Database,
    code: str,
    *,
    currency: str = "CNY",
    side: str = "credit",
    no_overdraft: bool = False,
    shards: int = 1,
) -> AccountView:
    return await db.run_in_transaction(
        lambda s: ledger.create_account(
            s,
            code=code,
            currency=currency,
            normal_side=Side(side),
            debits_must_not_exceed_credits=no_overdraft,
            shards=shards,
        )
    )


# --- shared by the journal, hold, property and concurrency tests -----------------------


async def balance(db: Database, account_id: str, *, as_of: datetime | None = None) -> BalanceView:
    return await db.run_in_transaction(lambda s: ledger.get_balance(s, account_id, as_of=as_of))


async def post(db: Database, spec: JournalSpec) -> tuple[JournalView, bool]:
    return await db.run_in_transaction(lambda s: ledger.post_journal(s, spec))


async def refused(work: Awaitable[object], code: str) -> PayHubError:
    """Await `work`, which must fail with the catalogue error `code`; returns the error."""
    try:
        await work
    except PayHubError as error:
        assert error.code == code, f"expected {code}, got {error.code}: {error}"
        return error
    raise AssertionError(f"expected {code}, but it succeeded")


async def scalar(db: Database, sql: str, **params: object) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


def totals(view: BalanceView) -> tuple[int, int, int, int]:
    """(debits_posted, credits_posted, debits_pending, credits_pending)."""
    return view.debits_posted, view.credits_posted, view.debits_pending, view.credits_pending
