"""The settlement journals and the merchant accounts they touch.

Every journal this module posts to a merchant's pending account has an id starting with
`stl_`, so a T+1 run can tell the captures and refunds after its window from settlement's
own movements. Reserve releases (`rsv_…`) touch only reserve and available.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db.sql import Sql
from payhub.ledger import service as ledger
from payhub.ledger.service import AccountSpec, BalanceView, JournalSpec, PostingSpec, Side

SETTLEMENT_PREFIX = "stl_"
# Limit errors a journal may meet when a concurrent writer took the money first; the
# amounts are then read again and the journal shrunk.
_LIMITS = ("insufficient_funds", "exceeds_debits")
_TRIES = 3


def pending_code(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:pending"


def available_code(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:available"


def reserve_code(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:reserve"


def own_accounts(merchant_id: str, currency: str) -> list[AccountSpec]:
    """Available and reserve: funds accounts that never go below zero (a payout's hold or
    a refund's recovery can only take what is there)."""
    return [
        AccountSpec(
            code=available_code(merchant_id),
            currency=currency,
            normal_side=Side.CREDIT,
            name=f"Available funds of {merchant_id}",
            owner=merchant_id,
            debits_must_not_exceed_credits=True,
        ),
        AccountSpec(
            code=reserve_code(merchant_id),
            currency=currency,
            normal_side=Side.CREDIT,
            name=f"Rolling reserve of {merchant_id}",
            owner=merchant_id,
            debits_must_not_exceed_credits=True,
        ),
    ]


def reserve_of(amount: int, bps: int) -> int:
    """The reserve held back from a settled amount: basis points, half-even to the minor unit."""
    if amount <= 0 or bps <= 0:
        return 0
    exact = Decimal(amount) * Decimal(bps) / Decimal(10_000)
    return min(amount, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)))


@dataclass(frozen=True, slots=True)
class Movement:
    """What one settlement journal moves for a merchant in one currency. `amount` > 0:
    out of pending into available (less `reserve`) and reserve; `amount` < 0: back into
    pending, `-amount - reserve_taken` from available and `reserve_taken` from reserve."""

    amount: int
    reserve: int = 0
    reserve_taken: int = 0

    @property
    def available(self) -> int:
        if self.amount >= 0:
            return self.amount - self.reserve
        return self.amount + self.reserve_taken


def settlement_spec(
    journal_id: str,
    merchant_id: str,
    currency: str,
    move: Movement,
    *,
    description: str,
    metadata: dict[str, str],
) -> JournalSpec:
    lines: list[PostingSpec] = []
    if move.amount > 0:
        lines.append(PostingSpec(pending_code(merchant_id), Side.DEBIT, move.amount, currency))
        if move.available > 0:
            lines.append(
                PostingSpec(available_code(merchant_id), Side.CREDIT, move.available, currency)
            )
        if move.reserve > 0:
            lines.append(
                PostingSpec(reserve_code(merchant_id), Side.CREDIT, move.reserve, currency)
            )
    else:
        if -move.available > 0:
            lines.append(
                PostingSpec(available_code(merchant_id), Side.DEBIT, -move.available, currency)
            )
        if move.reserve_taken > 0:
            lines.append(
                PostingSpec(reserve_code(merchant_id), Side.DEBIT, move.reserve_taken, currency)
            )
        lines.append(PostingSpec(pending_code(merchant_id), Side.CREDIT, -move.amount, currency))
    return JournalSpec(tuple(lines), id=journal_id, description=description, metadata=metadata)


def release_spec(journal_id: str, merchant_id: str, currency: str, amount: int) -> JournalSpec:
    return JournalSpec(
        (
            PostingSpec(reserve_code(merchant_id), Side.DEBIT, amount, currency),
            PostingSpec(available_code(merchant_id), Side.CREDIT, amount, currency),
        ),
        id=journal_id,
        description=f"Reserve released to {merchant_id}",
        metadata={"merchant": merchant_id, "settlement": journal_id.removeprefix("rsv_")},
    )


async def record(tx: AsyncSession | Sql, spec: JournalSpec, merchant_id: str) -> bool:
    """Post a settlement journal, opening the merchant's available and reserve accounts on
    first use; True when posted now, False when it was posted before."""
    currency = spec.postings[0].currency
    try:
        return await ledger.record_journal(tx, spec)
    except PayHubError as error:
        if error.code != "account_not_found":
            raise
    await ledger.ensure_accounts(tx, own_accounts(merchant_id, currency))
    return await ledger.record_journal(tx, spec)


async def merchant_balances(
    tx: AsyncSession | Sql, merchant_id: str, currency: str
) -> dict[str, BalanceView]:
    """Pending, available and reserve of a merchant in one currency, keyed by
    "pending" / "available" / "reserve" (missing when never opened)."""
    names = {
        pending_code(merchant_id): "pending",
        available_code(merchant_id): "available",
        reserve_code(merchant_id): "reserve",
    }
    found = await ledger.balances_by_code(tx, list(names), currency)
    return {names[code]: view for code, view in found.items()}


async def recovery(tx: AsyncSession | Sql, merchant_id: str, currency: str, owed: int) -> Movement:
    """How much of `owed` (back into pending) available and then reserve can give now."""
    balances = await merchant_balances(tx, merchant_id, currency)
    available = max(0, balances["available"].available) if "available" in balances else 0
    reserve = max(0, balances["reserve"].available) if "reserve" in balances else 0
    from_available = min(owed, available)
    from_reserve = min(owed - from_available, reserve)
    return Movement(amount=-(from_available + from_reserve), reserve_taken=from_reserve)


async def record_recovery(
    tx: AsyncSession | Sql,
    merchant_id: str,
    currency: str,
    owed: int,
    *,
    journal_id: str,
    description: str,
    metadata: dict[str, str],
) -> Movement:
    """Take up to `owed` back into pending from available, then reserve; a concurrent
    payout or release that took money first makes the amounts be read again. Returns what
    was moved (amount 0: nothing could be)."""
    for _ in range(_TRIES):
        move = await recovery(tx, merchant_id, currency, owed)
        if move.amount == 0:
            return move
        spec = settlement_spec(
            journal_id, merchant_id, currency, move, description=description, metadata=metadata
        )
        try:
            await record(tx, spec, merchant_id)
            return move
        except PayHubError as error:
            if error.code not in _LIMITS:
                raise
    return Movement(0)
