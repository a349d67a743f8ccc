"""Payment figures by scene, channel or currency over a period: what operators and
merchants look at to see how each business line is doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.payments.models import Payment

GroupBy = Literal["scene", "channel", "status"]
# Payments that reached a channel (confirmed), and those that got the money.
_CONFIRMED = ("processing", "requires_capture", "succeeded", "failed")
_AUTHORISED = ("requires_capture", "succeeded")


@dataclass(frozen=True, slots=True)
class SummaryRow:
    key: str | None  # the scene, channel or status; None: no channel (never routed)
    currency: str
    payments: int
    confirmed: int
    authorised: int
    amount: int
    captured: int
    refunded: int

    @property
    def authorisation_rate(self) -> float | None:
        """Authorised ÷ confirmed: the success rate the routing works on."""
        return self.authorised / self.confirmed if self.confirmed else None


async def payment_summary(
    session: AsyncSession,
    *,
    group_by: GroupBy,
    merchant_id: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> list[SummaryRow]:
    column = {"scene": Payment.scene, "channel": Payment.channel_id, "status": Payment.status}[
        group_by
    ]
    query = (
        select(
            column,
            Payment.currency,
            func.count(),
            func.sum(case((Payment.status.in_(_CONFIRMED), 1), else_=0)),
            func.sum(case((Payment.status.in_(_AUTHORISED), 1), else_=0)),
            func.sum(Payment.amount),
            func.sum(Payment.amount_captured),
            func.sum(Payment.amount_refunded),
        )
        .group_by(column, Payment.currency)
        .order_by(column, Payment.currency)
    )
    if merchant_id is not None:
        query = query.where(Payment.merchant_id == merchant_id)
    if created_from is not None:
        query = query.where(Payment.created_at >= created_from)
    if created_to is not None:
        query = query.where(Payment.created_at < created_to)
    return [
        SummaryRow(
            key=key,
            currency=currency,
            payments=int(n),
            confirmed=int(confirmed or 0),
            authorised=int(authorised or 0),
            amount=int(amount or 0),
            captured=int(captured or 0),
            refunded=int(refunded or 0),
        )
        for key, currency, n, confirmed, authorised, amount, captured, refunded in (
            await session.execute(query)
        ).all()
    ]
