"""Settlement tables. Only `payhub.settlement.balances` reads or writes them.

`settlement_settings`: one row per merchant that an operator configured (a merchant without
one settles T+1 at the calendar's default cut-off, with no reserve). Its row is also the
merchant's settlement lock: whoever moves the merchant's pending, available or reserve
money for settlement holds it, so two workers never settle the same merchant at once.

`settlement_entries`: one row per settlement journal (the journal's id is the row's id):
what moved from pending to available and reserve (negative: recovered back to pending),
for which business day, and when its reserve is released.

`channel_settlements`: one row per channel × settled period, with the statement's figures
and the journal that cleared the channel into custody.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

MODES = ("realtime", "t1")
# realtime: one capture's money, at capture; daily: a business day's run (T+1 window, or a
# real-time merchant's sweep of what is left); refund: a refund covered from available.
ENTRY_KINDS = ("realtime", "daily", "refund")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SettlementSettings(Base):
    __tablename__ = "settlement_settings"
    __table_args__ = (
        CheckConstraint(_in("mode", MODES), name="mode"),
        CheckConstraint("reserve_bps >= 0 AND reserve_bps <= 10000", name="reserve_bps"),
        CheckConstraint("reserve_days >= 0 AND reserve_days <= 365", name="reserve_days"),
    )

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))
    cutoff: Mapped[str] = mapped_column(String(5))  # HH:MM in the calendar's zone
    reserve_bps: Mapped[int]
    reserve_days: Mapped[int]
    calendar: Mapped[str] = mapped_column(String(2))  # country code of the holiday calendar
    version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SettlementEntry(Base):
    __tablename__ = "settlement_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint("reserve >= 0", name="reserve"),
        Index("ix_settlement_entries_merchant_id", "merchant_id", "id"),
        Index("ix_settlement_entries_release", "reserve_released_at", "reserve_release_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the journal's id
    merchant_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10))
    business_day: Mapped[date] = mapped_column(Date)
    # Captures and refunds posted before this instant are in a daily run's window.
    window_end: Mapped[datetime | None]
    amount: Mapped[int]  # out of pending: > 0 settled, < 0 recovered into pending
    available: Mapped[int]  # into available (negative: taken from it)
    reserve: Mapped[int]  # into reserve (>= 0)
    reserve_taken: Mapped[int]  # out of reserve to cover a recovery (>= 0)
    reserve_release_at: Mapped[datetime | None]
    reserve_released_at: Mapped[datetime | None]
    released: Mapped[int]  # what the release journal moved back to available
    reference: Mapped[str | None] = mapped_column(String(64))  # the payment journal
    posted_at: Mapped[datetime]


class ChannelSettlement(Base):
    __tablename__ = "channel_settlements"
    __table_args__ = (
        UniqueConstraint(
            "channel_id", "currency", "period_start", name="uq_channel_settlements_period"
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the journal's id
    channel_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    settles_on: Mapped[date] = mapped_column(Date)
    lines: Mapped[int]
    gross_captured: Mapped[int]
    gross_refunded: Mapped[int]
    fees: Mapped[int]  # the statement's fees
    fees_booked: Mapped[int]  # of them, expensed by this journal (not booked at capture)
    net: Mapped[int]  # what the channel paid into custody (may be negative)
    statement_ref: Mapped[str] = mapped_column(String(120))
    posted_at: Mapped[datetime]
