"""What each payment was charged and cost, and the margin report over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.payments import service as payments
from payhub.settlement.fees.models import PaymentFee

_FEES = table_of(PaymentFee)
GROUPINGS = {"merchant": _FEES.c.merchant_id, "channel": _FEES.c.channel_id,
             "card_type": _FEES.c.card_type, "channel_class": _FEES.c.channel_class,
             "scene": _FEES.c.scene}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PaymentFees:
    """A payment's fees: charged to the merchant, paid to the channel, net of returns."""

    payment_id: str
    merchant_id: str
    channel_id: str
    currency: str
    card_type: str
    issuer: str
    channel_class: str
    scene: str
    plan_id: str | None
    plan_version: int | None
    cost_version: int | None
    merchant_price: dict[str, Any]
    cost_price: dict[str, Any]
    captured: int
    refunded: int
    merchant_fee: int
    merchant_fee_refunded: int
    channel_cost: int
    channel_cost_refunded: int
    first_captured_at: datetime

    @property
    def net_merchant_fee(self) -> int:
        return self.merchant_fee - self.merchant_fee_refunded

    @property
    def net_channel_cost(self) -> int:
        return self.channel_cost - self.channel_cost_refunded

    @property
    def margin(self) -> int:
        return self.net_merchant_fee - self.net_channel_cost


def _view(row: Row) -> PaymentFees:
    return PaymentFees(**{name: row[name] for name in PaymentFees.__dataclass_fields__})


async def payment_fees(
    tx: AsyncSession | Sql, payment_id: str, *, merchant_id: str | None
) -> PaymentFees | None:
    """A payment's fees (None: nothing captured yet); another merchant's payment is
    `payment_not_found`."""
    await payments.get_payment(tx, payment_id, merchant_id=merchant_id)
    rows = await (await as_sql(tx)).all_once(select(_FEES).where(_FEES.c.payment_id == payment_id))
    return _view(rows[0]) if rows else None


@dataclass(frozen=True, slots=True)
class MarginLine:
    key: str
    currency: str
    payments: int
    captured: int
    refunded: int
    merchant_fees: int
    channel_costs: int

    @property
    def margin(self) -> int:
        return self.merchant_fees - self.channel_costs

    @property
    def margin_bps(self) -> float | None:
        net = self.captured - self.refunded
        return round(self.margin * 10_000 / net, 2) if net > 0 else None


async def margin_report(
    tx: AsyncSession | Sql, *, group_by: str, start: datetime | None, end: datetime | None
) -> list[MarginLine]:
    """Fees charged, channel costs and margin (all net of refunds) of the payments first
    captured in `[start, end)`, per group and currency."""
    key = GROUPINGS.get(group_by)
    if key is None:
        raise PayHubError("validation_error", param="group_by", detail=", ".join(GROUPINGS))
    query = (
        select(
            key.label("key"),
            _FEES.c.currency,
            func.count().label("payments"),
            func.sum(_FEES.c.captured).label("captured"),
            func.sum(_FEES.c.refunded).label("refunded"),
            func.sum(_FEES.c.merchant_fee - _FEES.c.merchant_fee_refunded).label("merchant_fees"),
            func.sum(_FEES.c.channel_cost - _FEES.c.channel_cost_refunded).label("channel_costs"),
        )
        .group_by(key, _FEES.c.currency)
        .order_by(key, _FEES.c.currency)
    )
    if start is not None:
        query = query.where(_FEES.c.first_captured_at >= start)
    if end is not None:
        query = query.where(_FEES.c.first_captured_at < end)
    rows = await (await as_sql(tx)).all_once(query)
    return [
        MarginLine(
            key=str(r["key"]),
            currency=r["currency"],
            payments=int(r["payments"]),
            captured=int(r["captured"]),
            refunded=int(r["refunded"]),
            merchant_fees=int(r["merchant_fees"]),
            channel_costs=int(r["channel_costs"]),
        )
        for r in rows
    ]


async def fee_rows(
    tx: AsyncSession | Sql, *, start: datetime | None, end: datetime | None, after: str, limit: int
) -> list[PaymentFees]:
    """Fee records of payments first captured in `[start, end)`, by payment id, in pages."""
    query = (
        select(_FEES).where(_FEES.c.payment_id > after).order_by(_FEES.c.payment_id).limit(limit)
    )
    if start is not None:
        query = query.where(_FEES.c.first_captured_at >= start)
    if end is not None:
        query = query.where(_FEES.c.first_captured_at < end)
    return [_view(r) for r in await (await as_sql(tx)).all_once(query)]
