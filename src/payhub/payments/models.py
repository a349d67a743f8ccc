"""Payment, attempt and refund tables. Only `payhub.payments.service` reads or writes them.

No column holds a card number or a security code: a payment names its card by vault token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

PAYMENT_STATUSES = (
    "requires_confirmation",
    "processing",
    "requires_capture",
    "succeeded",
    "failed",
    "canceled",
)
SCENES = ("food_delivery", "group_buy", "local_services", "cross_border")
# A `sale` authorises and captures in one message (an automatic-capture payment); the
# others are one operation each.
ATTEMPT_KINDS = ("authorize", "sale", "capture", "void", "refund")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint(_in("capture_method", ("automatic", "manual")), name="capture_method"),
        CheckConstraint(_in("scene", SCENES), name="scene"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(
            "amount_capturable >= 0 AND amount_captured >= 0 AND amount_refunded >= 0",
            name="amounts_positive",
        ),
        CheckConstraint("amount_captured + amount_capturable <= amount", name="captured"),
        CheckConstraint("amount_refunded <= amount_captured", name="refunded"),
        Index("ix_payments_merchant_id_id", "merchant_id", "id"),
        Index("ix_payments_merchant_id_created_at", "merchant_id", "created_at"),
        Index("ix_payments_status", "status"),
        Index("ix_payments_in_flight_attempt_id", "in_flight_attempt_id"),
        Index("ix_payments_merchant_id_status_id", "merchant_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), ForeignKey("merchants.id"))
    customer_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("customers.id"))
    payment_method: Mapped[str] = mapped_column(String(40))  # a vault card token
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    amount_capturable: Mapped[int]
    amount_captured: Mapped[int]
    amount_refunded: Mapped[int]
    capture_method: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(30))
    scene: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    authorization_ref: Mapped[str | None] = mapped_column(String(100))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    authorized_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # The attempt whose channel call is under way or whose answer is still unknown. At most
    # one per payment: a payment changes at one channel at a time.
    in_flight_attempt_id: Mapped[str | None] = mapped_column(String(40))
    # Why the payment went where it went: the risk checks it passed and the route chosen.
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentAttempt(Base):
    __tablename__ = "payment_attempts"
    __table_args__ = (
        CheckConstraint(_in("kind", ATTEMPT_KINDS), name="kind"),
        Index("ix_payment_attempts_payment_id_id", "payment_id", "id"),
        # Reconciliation reads a channel's movements of one day.
        Index("ix_payment_attempts_channel_id_created_at", "channel_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), ForeignKey("payments.id"))
    kind: Mapped[str] = mapped_column(String(10))
    channel_id: Mapped[str] = mapped_column(String(64))
    # Ours, sent to the channel: a channel seeing it twice answers with its first decision.
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    # pending (committed before the call; the answer is not in yet) | approved | declined |
    # timeout | lost | error | not_found (as the channel answered; a resolved unknown outcome
    # is updated to the truth).
    status: Mapped[str] = mapped_column(String(12))
    raw_code: Mapped[str | None] = mapped_column(String(10))
    raw_message: Mapped[str | None] = mapped_column(String(300))
    catalogue_code: Mapped[str | None] = mapped_column(String(60))
    latency_ms: Mapped[int]
    amount: Mapped[int | None]
    refund_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(_in("status", ("pending", "succeeded", "failed")), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_refunds_payment_id_id", "payment_id", "id"),
        Index("ix_refunds_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), ForeignKey("payments.id"))
    merchant_id: Mapped[str] = mapped_column(String(40), ForeignKey("merchants.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
