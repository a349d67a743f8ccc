"""Fee plans and their versions, channel cost schedule versions, and the fees each payment
was charged. Only `payhub.settlement.fees` reads or writes them.

Versions are never changed once written: a new price is a new version with the moment it
takes effect, so the price in force at any time can always be told again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class FeePlan(Base):
    __tablename__ = "fee_plans"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The plan of every merchant that points to none (at most one; else the built-in plan).
    is_default: Mapped[bool]
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class FeePlanVersion(Base):
    __tablename__ = "fee_plan_versions"
    __table_args__ = (
        UniqueConstraint("plan_id", "version", name="uq_fee_plan_versions_plan_id_version"),
        CheckConstraint("refund_policy IN ('proportional', 'none')", name="refund_policy"),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_fee_plan_versions_plan_id_effective_from", "plan_id", "effective_from"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(40), ForeignKey("fee_plans.id"))
    version: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[datetime]
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    channel_classes: Mapped[dict[str, Any]] = mapped_column(JSON)
    refund_policy: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class ChannelCostVersion(Base):
    __tablename__ = "channel_cost_versions"
    __table_args__ = (
        UniqueConstraint(
            "channel_id", "version", name="uq_channel_cost_versions_channel_id_version"
        ),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_channel_cost_versions_channel_id_effective_from", "channel_id", "effective_from"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[datetime]
    debit: Mapped[dict[str, Any]] = mapped_column(JSON)
    credit: Mapped[dict[str, Any]] = mapped_column(JSON)
    refund_returns_fee: Mapped[bool]
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class PaymentFee(Base):
    """What one payment was charged and what it cost: cumulative over its captures and
    refunds, with the prices pinned at its first capture."""

    __tablename__ = "payment_fees"
    __table_args__ = (
        CheckConstraint(
            "merchant_fee_refunded <= merchant_fee AND channel_cost_refunded <= channel_cost",
            name="never_over_refunded",
        ),
        CheckConstraint(
            "captured >= 0 AND refunded >= 0 AND merchant_fee >= 0 AND channel_cost >= 0 "
            "AND merchant_fee_refunded >= 0 AND channel_cost_refunded >= 0",
            name="amounts_positive",
        ),
        Index("ix_payment_fees_first_captured_at", "first_captured_at"),
        Index("ix_payment_fees_merchant_id_first_captured_at", "merchant_id", "first_captured_at"),
    )

    payment_id: Mapped[str] = mapped_column(String(40), ForeignKey("payments.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    card_type: Mapped[str] = mapped_column(String(10))
    issuer: Mapped[str] = mapped_column(String(40))
    channel_class: Mapped[str] = mapped_column(String(12))
    scene: Mapped[str] = mapped_column(String(20))
    # None: the built-in plan / the channel's list prices.
    plan_id: Mapped[str | None] = mapped_column(String(40))
    plan_version: Mapped[int | None]
    cost_version: Mapped[int | None]
    # The prices pinned at the first capture (a `Price` each, with its policy).
    merchant_price: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost_price: Mapped[dict[str, Any]] = mapped_column(JSON)
    captured: Mapped[int]
    refunded: Mapped[int]
    merchant_fee: Mapped[int]
    merchant_fee_refunded: Mapped[int]
    channel_cost: Mapped[int]
    channel_cost_refunded: Mapped[int]
    first_captured_at: Mapped[datetime]
    updated_at: Mapped[datetime]
