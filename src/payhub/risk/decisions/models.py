"""Risk rule sets and the decision recorded for every payment. Only
`payhub.risk.decisions` reads or writes these tables.

A decision row is also the payment's entry in the risk history: the velocity features of
later payments are counted over these rows, so declined tries count too (a fraudster's
refused attempts are part of the pattern). Cards appear by fingerprint only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

OUTCOMES = ("approve", "review", "decline")


class RiskRuleSet(Base):
    __tablename__ = "risk_rule_sets"
    __table_args__ = (
        Index(
            "ix_risk_rule_sets_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # {"rules": [...], "review_at": n, "decline_at": n}
    definition: Mapped[dict[str, Any]] = mapped_column(JSON())
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool]
    created_at: Mapped[datetime]


class RiskDecision(Base):
    __tablename__ = "risk_decisions"
    __table_args__ = (
        CheckConstraint("outcome IN ('approve', 'review', 'decline')", name="outcome"),
        # The windows of the velocity features, one per party a payment is counted for.
        Index("ix_risk_decisions_customer_id_decided_at", "customer_id", "decided_at"),
        Index("ix_risk_decisions_card_fingerprint_decided_at", "card_fingerprint", "decided_at"),
        Index("ix_risk_decisions_device_id_decided_at", "device_id", "decided_at"),
        Index("ix_risk_decisions_ip_decided_at", "ip", "decided_at"),
        Index("ix_risk_decisions_decided_at", "decided_at"),
        Index("ix_risk_decisions_merchant_id_decided_at", "merchant_id", "decided_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    card_fingerprint: Mapped[str | None] = mapped_column(String(80))
    device_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    latitude: Mapped[float | None] = mapped_column(Float())
    longitude: Mapped[float | None] = mapped_column(Float())
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    small: Mapped[bool]  # at most the small-amount line when decided
    near_threshold: Mapped[bool]  # just under a reporting threshold when decided
    outcome: Mapped[str] = mapped_column(String(10))
    score: Mapped[int]
    fired: Mapped[list[dict[str, Any]]] = mapped_column(JSON())
    features: Mapped[dict[str, Any]] = mapped_column(JSON())
    rules_version: Mapped[int]
    decided_at: Mapped[datetime]
    took_us: Mapped[int]  # the decision's own time, features and rules
