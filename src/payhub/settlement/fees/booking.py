"""Fees booked with every capture and refund, inside the payment's own journal.

A capture books the merchant's fee (`merchant:<id>:pending` → `platform:fees`) and the
channel's cost (`channel:<id>:fees` debit, `channel:<id>:clearing` credit: the channel pays
us the amount less its fee). A refund returns the merchant's fee in proportion to what has
been refunded (plan policy `proportional`; `none` keeps it), and the channel's cost only if
its schedule says the channel returns it (card channels in China usually do not).

Amounts are worked out from the payment's cumulative totals (`payment_fees`), so partial
captures and refunds never book more fee, or return more, than the payment was charged.
The prices are pinned at the first capture: the plan and schedule versions in force then
price every later capture and refund of the payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from payhub.channels.base import CardType
from payhub.core import clock
from payhub.db.sql import Sql, table_of
from payhub.ledger.service import AccountSpec, PostingSpec, Side
from payhub.payments.rows import PaymentRow
from payhub.settlement.fees import pricing, service
from payhub.settlement.fees.models import PaymentFee
from payhub.settlement.fees.pricing import FeeMove, FeeState, Pinned, Price

_FEES = table_of(PaymentFee)
_FEE_ROW = select(_FEES).where(_FEES.c.payment_id == bindparam("payment_id"))
_INSERT = insert(_FEES)
_TOTALS = ("captured", "refunded", "merchant_fee", "merchant_fee_refunded", "channel_cost",
           "channel_cost_refunded")  # fmt: skip
_SAVE = (
    update(_FEES)
    .where(_FEES.c.payment_id == bindparam("payment_key"))
    .values({name: bindparam(name) for name in (*_TOTALS, "updated_at")})
)

PLATFORM_FEES = "platform:fees"


@dataclass(frozen=True, slots=True)
class FeeBooking:
    """The postings a movement adds to its journal, and the accounts they need."""

    postings: tuple[PostingSpec, ...]
    accounts: tuple[AccountSpec, ...]
    move: FeeMove | None = None


def fee_accounts(row: PaymentRow, *, shards: int) -> tuple[AccountSpec, AccountSpec]:
    """`platform:fees` and `channel:<id>:fees`: hot like the payment's own accounts."""
    assert row.channel_id is not None
    return (
        AccountSpec(
            code=PLATFORM_FEES,
            currency=row.currency,
            normal_side=Side.CREDIT,
            name="Platform fee revenue",
            shards=shards,
        ),
        AccountSpec(
            code=f"channel:{row.channel_id}:fees",
            currency=row.currency,
            normal_side=Side.DEBIT,
            name=f"Fees charged by {row.channel_id}",
            shards=shards,
        ),
    )


def _price_data(price: Price, **extra: Any) -> dict[str, Any]:
    return {**price.to_data(), **extra}


def _pinned(found: dict[str, Any]) -> Pinned:
    m, c = found["merchant_price"], found["cost_price"]
    return Pinned(
        merchant_price=pricing.parse_price(
            {k: m[k] for k in ("bps", "fixed", "minimum", "cap")}, "m"
        ),
        merchant_same_currency=bool(m["same_currency"]),
        refund_policy=str(m["refund_policy"]),
        cost_price=pricing.parse_price({k: c[k] for k in ("bps", "fixed", "minimum", "cap")}, "c"),
        cost_same_currency=bool(c["same_currency"]),
        refund_returns_fee=bool(c["refund_returns_fee"]),
    )


async def _first_capture(sql: Sql, row: PaymentRow) -> tuple[dict[str, Any], Pinned]:
    """The fee record of a payment's first capture, priced by the versions in force now."""
    assert row.channel_id is not None
    now = clock.now()
    context = (row.decision or {}).get("context") or {}
    card_type = str(context.get("card_type") or CardType.DEBIT.value)
    plan = await service.plan_in_force(sql, row.merchant_id, now)
    rule = plan.terms.rule_for(card_type, row.channel_id, row.scene)
    cost = await service.cost_in_force(sql, row.channel_id, now, row.currency)
    cost_price = cost.terms.price(card_type) if cost is not None else Price(bps=0)
    pinned = Pinned(
        merchant_price=rule.price,
        merchant_same_currency=row.currency == plan.terms.currency,
        refund_policy=plan.terms.refund_policy,
        cost_price=cost_price,
        cost_same_currency=cost is not None and row.currency == cost.terms.currency,
        refund_returns_fee=cost is not None and cost.terms.refund_returns_fee,
    )
    record = {
        "payment_id": row.id,
        "merchant_id": row.merchant_id,
        "channel_id": row.channel_id,
        "currency": row.currency,
        "card_type": card_type,
        "issuer": str(context.get("issuer") or "")[:40],
        "channel_class": plan.terms.channel_class(row.channel_id),
        "scene": row.scene,
        "plan_id": plan.plan_id,
        "plan_version": plan.version if plan.plan_id is not None else None,
        "cost_version": cost.version if cost is not None else None,
        "merchant_price": _price_data(
            rule.price,
            same_currency=pinned.merchant_same_currency,
            refund_policy=pinned.refund_policy,
        ),
        "cost_price": _price_data(
            cost_price,
            same_currency=pinned.cost_same_currency,
            refund_returns_fee=pinned.refund_returns_fee,
        ),
        **{name: 0 for name in _TOTALS},
        "first_captured_at": now,
        "updated_at": now,
    }
    return record, pinned


async def book(sql: Sql, row: PaymentRow, amount: int, *, refund: bool, shards: int) -> FeeBooking:
    """The fee postings of a capture or refund of `amount` (the payment's amounts already
    include it), and the fee record's change, deferred with the unit's writes."""
    first = not refund and row.amount_captured == amount and row.amount_refunded == 0
    found = None if first else await sql.one(_FEE_ROW, payment_id=row.id)
    if found is None:
        if refund:
            # Captured before fees were booked: there is no fee to return.
            return FeeBooking((), ())
        record, pinned = await _first_capture(sql, row)
        state = FeeState()
    else:
        record, pinned = found, _pinned(found)
        state = FeeState(**{name: int(found[name]) for name in _TOTALS})
    move = (
        pricing.on_refund(state, pinned, amount)
        if refund
        else pricing.on_capture(state, pinned, amount)
    )
    totals = {name: getattr(move.state, name) for name in _TOTALS}
    if found is None:
        await sql.defer(_INSERT, **{**record, **totals})
    else:
        await sql.defer(_SAVE, payment_key=row.id, updated_at=clock.now(), **totals)
    return FeeBooking(_postings(row, move, refund=refund), fee_accounts(row, shards=shards), move)


def _postings(row: PaymentRow, move: FeeMove, *, refund: bool) -> tuple[PostingSpec, ...]:
    pending = f"merchant:{row.merchant_id}:pending"
    clearing = f"channel:{row.channel_id}:clearing"
    expense = f"channel:{row.channel_id}:fees"
    found: list[PostingSpec] = []
    # A capture charges: pending → platform fees, channel fees ← clearing; a refund
    # returns the other way.
    if move.merchant_fee:
        debit, credit = (PLATFORM_FEES, pending) if refund else (pending, PLATFORM_FEES)
        found += [
            PostingSpec(debit, Side.DEBIT, move.merchant_fee, row.currency),
            PostingSpec(credit, Side.CREDIT, move.merchant_fee, row.currency),
        ]
    if move.channel_cost:
        debit, credit = (clearing, expense) if refund else (expense, clearing)
        found += [
            PostingSpec(debit, Side.DEBIT, move.channel_cost, row.currency),
            PostingSpec(credit, Side.CREDIT, move.channel_cost, row.currency),
        ]
    return tuple(found)
