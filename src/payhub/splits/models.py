"""Split batch tables. Only `payhub.splits` reads or writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

LINE_STATUSES = ("pending", "paid", "failed")
CLAWBACK_MODES = ("proportional", "leader_only")
# How the receivers' payouts reach the bank: one rail call each, or the partner bank's
# credit transfer file (pain.001) answered by its status report (pain.002).
DELIVERIES = ("rails", "bank_file")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SplitBatch(Base):
    """A group leader's instruction for one round: what was collected and who gets what."""

    __tablename__ = "split_batches"
    __table_args__ = (
        CheckConstraint(_in("clawback", CLAWBACK_MODES), name="clawback"),
        CheckConstraint(_in("delivery", DELIVERIES), name="delivery"),
        CheckConstraint(
            "distributed + platform_commission + leader_commission <= net_collected",
            name="never_over",
        ),
        Index("ix_split_batches_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), ForeignKey("merchants.id"))
    currency: Mapped[str] = mapped_column(String(3))
    round: Mapped[str | None] = mapped_column(String(64))
    net_collected: Mapped[int]
    distributed: Mapped[int]  # to the receivers
    platform_commission: Mapped[int]
    leader_commission: Mapped[int]
    clawback: Mapped[str] = mapped_column(String(16))
    clawed_back: Mapped[int]
    delivery: Mapped[str] = mapped_column(String(10), server_default="rails")
    journal_id: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SplitLine(Base):
    """One receiver of a batch: its amount and the payout taking it to its bank account."""

    __tablename__ = "split_lines"
    __table_args__ = (
        CheckConstraint(_in("status", LINE_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_split_lines_batch_id_position", "batch_id", "position"),
        Index("ix_split_lines_payout_id", "payout_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40), ForeignKey("split_batches.id"))
    position: Mapped[int]
    payee_id: Mapped[str] = mapped_column(String(40))
    receiver_merchant_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int]
    share_bps: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(8))
    payout_id: Mapped[str | None] = mapped_column(String(40))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    attempts: Mapped[int]
    clawed_back: Mapped[int]
    clawback_outstanding: Mapped[int]  # what a refund's clawback could not take back
    updated_at: Mapped[datetime]


class SplitCover(Base):
    """A payment a batch distributed: each payment is split at most once."""

    __tablename__ = "split_covers"

    payment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40), ForeignKey("split_batches.id"))
    net: Mapped[int]  # what this payment contributed to the batch's net collected
