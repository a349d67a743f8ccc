"""Payments, attempts and refunds as the payment service holds them between statements.

Plain records, filled from and written back to their tables by `payhub.payments.service`
(SQLAlchemy Core statements, see `payhub.db.sql`); field names are the column names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self


class _Record:
    """From a row keyed by column names, and back."""

    @classmethod
    def of(cls, row: dict[str, Any]) -> Self:
        return cls(**{f.name: row[f.name] for f in fields(cls)})  # type: ignore[arg-type]

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(slots=True)
class PaymentRow(_Record):
    id: str
    merchant_id: str
    customer_id: str | None
    payment_method: str
    amount: int
    currency: str
    amount_capturable: int
    amount_captured: int
    amount_refunded: int
    capture_method: str
    status: str
    scene: str
    description: str | None
    metadata: dict[str, Any]
    channel_id: str | None
    authorization_ref: str | None
    failure_code: str | None
    failure_message: str | None
    authorized_at: datetime | None
    expires_at: datetime | None
    in_flight_attempt_id: str | None
    decision: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class AttemptRow(_Record):
    id: str
    payment_id: str
    kind: str
    channel_id: str
    request_id: str
    status: str
    raw_code: str | None
    raw_message: str | None
    catalogue_code: str | None
    latency_ms: int
    amount: int | None
    refund_id: str | None
    created_at: datetime


@dataclass(slots=True)
class RefundRow(_Record):
    id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    failure_code: str | None
    created_at: datetime
    updated_at: datetime
