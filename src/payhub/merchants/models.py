"""Merchant and customer tables. Only `payhub.merchants.service` reads or writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("per_payment_limit IS NULL OR per_payment_limit > 0", name="per_payment"),
        CheckConstraint("daily_limit IS NULL OR daily_limit > 0", name="daily"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    # The currency the merchant is settled in and its limits are counted in.
    currency: Mapped[str] = mapped_column(String(3))
    per_payment_limit: Mapped[int | None]
    daily_limit: Mapped[int | None]
    # Filled by settlement (fee plans): which plan prices this merchant's payments.
    fee_plan_id: Mapped[str | None] = mapped_column(String(40))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime]


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    # ISO 3166-2 subdivision (CN-SH, CN-GD …): the risk rules compare payments' locations to it.
    home_region: Mapped[str | None] = mapped_column(String(10))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime]
