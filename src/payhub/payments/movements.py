"""Money that moved: every approved sale, capture and refund at a channel, with the payment
it belongs to. What regulatory reports and AML cases read of payments.

A movement's time is its attempt's: committed just before the channel was asked, so the
bank's own record of the transaction follows it by the call's latency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select

from payhub.core.ids import is_id
from payhub.db.sql import Row, Sql, table_of
from payhub.payments.models import Payment, PaymentAttempt, Refund

_PAYMENTS = table_of(Payment)
_ATTEMPTS = table_of(PaymentAttempt)
_REFUNDS = table_of(Refund)
_MONEY = ("sale", "capture", "refund")

_MOVED = (
    select(
        _ATTEMPTS.c.id,
        _ATTEMPTS.c.kind,
        _ATTEMPTS.c.payment_id,
        _ATTEMPTS.c.refund_id,
        _ATTEMPTS.c.amount,
        _ATTEMPTS.c.created_at,
        _PAYMENTS.c.merchant_id,
        _PAYMENTS.c.customer_id,
        _PAYMENTS.c.payment_method,
        _PAYMENTS.c.scene,
        _PAYMENTS.c.currency,
    )
    .join(_PAYMENTS, _PAYMENTS.c.id == _ATTEMPTS.c.payment_id)
    # Equalities, not IN: the statement runs on the compiled fast path.
    .where(_ATTEMPTS.c.status == "approved", or_(*(_ATTEMPTS.c.kind == k for k in _MONEY)))
)
_BETWEEN = (
    _MOVED.where(
        _ATTEMPTS.c.created_at >= bindparam("start"),
        _ATTEMPTS.c.created_at < bindparam("end"),
        _ATTEMPTS.c.id > bindparam("after"),
    )
    .order_by(_ATTEMPTS.c.id)
    .limit(bindparam("limit"))
)
_OF_PAYMENT = _MOVED.where(_ATTEMPTS.c.payment_id == bindparam("payment_id")).order_by(
    _ATTEMPTS.c.id
)
_OF_REFUND = _MOVED.where(_ATTEMPTS.c.refund_id == bindparam("refund_id")).order_by(_ATTEMPTS.c.id)
_PAYMENT_EXISTS = select(_PAYMENTS.c.id).where(_PAYMENTS.c.id == bindparam("id"))
_REFUND_EXISTS = select(_REFUNDS.c.id).where(_REFUNDS.c.id == bindparam("id"))


@dataclass(frozen=True, slots=True)
class Movement:
    id: str  # the channel attempt that moved the money
    kind: str  # "payment" (the customer paid the merchant) or "refund" (the other way)
    transaction_id: str  # the payment's or the refund's id
    payment_id: str
    merchant_id: str
    customer_id: str | None
    payment_method: str  # the card's vault token (never its number)
    scene: str
    amount: int
    currency: str
    at: datetime

    @classmethod
    def of(cls, row: Row) -> Movement:
        refund = row["kind"] == "refund"
        return cls(
            id=row["id"],
            kind="refund" if refund else "payment",
            transaction_id=row["refund_id"] if refund else row["payment_id"],
            payment_id=row["payment_id"],
            merchant_id=row["merchant_id"],
            customer_id=row["customer_id"],
            payment_method=row["payment_method"],
            scene=row["scene"],
            amount=int(row["amount"] or 0),
            currency=row["currency"],
            at=row["created_at"],
        )


async def moved_between(
    sql: Sql, start: datetime, end: datetime, *, page: int = 1000
) -> AsyncIterator[Movement]:
    """Every movement in [start, end), in id order, a page at a time."""
    after = ""
    while True:
        rows = await sql.all(_BETWEEN, start=start, end=end, after=after, limit=page)
        for row in rows:
            yield Movement.of(row)
        if len(rows) < page:
            return
        after = rows[-1]["id"]


async def moved_for(sql: Sql, transaction_id: str) -> list[Movement]:
    """The movements of a payment (its captures) or of a refund."""
    if is_id(transaction_id, "pay"):
        rows = await sql.all(_OF_PAYMENT, payment_id=transaction_id)
    elif is_id(transaction_id, "re"):
        rows = await sql.all(_OF_REFUND, refund_id=transaction_id)
    else:
        return []
    return [Movement.of(r) for r in rows]


async def transaction_exists(sql: Sql, transaction_id: str) -> bool:
    """Whether a payment or refund has this id."""
    if is_id(transaction_id, "pay"):
        return await sql.one(_PAYMENT_EXISTS, id=transaction_id) is not None
    if is_id(transaction_id, "re"):
        return await sql.one(_REFUND_EXISTS, id=transaction_id) is not None
    return False
