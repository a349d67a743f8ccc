"""Payee and payout tables. Only `payhub.settlement.payouts` reads or writes them.

No column holds a bank account number: a payee names its account by vault token.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

PAYEE_ROLES = ("merchant", "supplier", "group_leader")
PAYEE_STATUSES = ("unverified", "verified")
SCREENING_STATUSES = ("clear", "hit")
PAYOUT_STATUSES = ("pending", "in_transit", "paid", "failed", "returned")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Payee(Base):
    """A merchant's bank account bound as a payout destination."""

    __tablename__ = "payees"
    __table_args__ = (
        CheckConstraint(_in("role", PAYEE_ROLES), name="role"),
        CheckConstraint(_in("status", PAYEE_STATUSES), name="status"),
        CheckConstraint(_in("screening", SCREENING_STATUSES), name="screening"),
        UniqueConstraint("merchant_id", "bank_account", name="uq_payees_merchant_id_bank_account"),
        Index("ix_payees_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), ForeignKey("merchants.id"))
    role: Mapped[str] = mapped_column(String(20))
    bank_account: Mapped[str] = mapped_column(String(40))  # a vault bank-account token
    bank_code: Mapped[str] = mapped_column(String(20))
    holder_name: Mapped[str] = mapped_column(String(200))
    last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(12))
    verified_by: Mapped[str | None] = mapped_column(String(20))  # operator | penny_drop
    verified_at: Mapped[datetime | None]
    screening: Mapped[str] = mapped_column(String(8))
    screening_id: Mapped[str | None] = mapped_column(String(40))
    screened_at: Mapped[datetime | None]
    daily_limit: Mapped[int | None]
    split_cap: Mapped[int | None]  # the most one split batch may give this payee
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Payout(Base):
    """One transfer to a payee's bank account on one rail, and where it stands."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint(_in("status", PAYOUT_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND fee >= 0", name="amounts"),
        UniqueConstraint("request_id", name="uq_payouts_request_id"),
        Index("ix_payouts_merchant_id_id", "merchant_id", "id"),
        Index("ix_payouts_status_not_before", "status", "not_before"),
        Index("ix_payouts_payee_id_created_at", "payee_id", "created_at"),
        Index("ix_payouts_split_batch_id", "split_batch_id"),
        Index("ix_payouts_group_id", "group_id"),
        # A rail's daily reconciliation reads its payouts by day sent and by day returned.
        Index("ix_payouts_rail_sent_at", "rail", "sent_at"),
        Index("ix_payouts_rail_returned_at", "rail", "returned_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), ForeignKey("merchants.id"))
    payee_id: Mapped[str] = mapped_column(String(40), ForeignKey("payees.id"))
    amount: Mapped[int]
    fee: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    rail: Mapped[str] = mapped_column(String(64))
    instant: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(12))
    # Our id for the rail request (its idempotency key at the rail) and the ledger hold.
    request_id: Mapped[str] = mapped_column(String(40))
    hold_id: Mapped[str] = mapped_column(String(60))
    rail_ref: Mapped[str | None] = mapped_column(String(100))
    # The rail's last answer while the outcome is unknown (timeout, lost) and its raw code.
    last_answer: Mapped[str | None] = mapped_column(String(12))
    raw_code: Mapped[str | None] = mapped_column(String(8))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    # Parts of one withdrawal split over several real-time payouts share a group.
    group_id: Mapped[str | None] = mapped_column(String(40))
    split_batch_id: Mapped[str | None] = mapped_column(String(40))
    not_before: Mapped[datetime]  # a queued payout is not sent before this moment
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    return_checked_at: Mapped[datetime | None]
