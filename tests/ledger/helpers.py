"""Small builders shared by the ledger tests."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.domain import AccountView, JournalSpec, PostingSpec, Side


def p(account: str, side: str, amount: int, currency: str = "CNY") -> PostingSpec:
    return PostingSpec(account, Side(side), amount, currency)


def transfer(
    source: str, target: str, amount: int, *, id: str | None = None, currency: str = "CNY"
) -> JournalSpec:
    """Move `amount` from `source` (debited) to `target` (credited)."""
    return JournalSpec(
        id=id, postings=(p(source, "debit", amount, currency), p(target, "credit", amount, currency))
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
