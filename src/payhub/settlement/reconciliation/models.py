"""Reconciliation runs and breaks. Only `payhub.settlement.reconciliation` reads or writes
them. A statement's lines are staged for the run only; a break keeps the line it is about."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

BREAK_TYPES = (
    "missing_on_statement",  # we recorded the movement, the channel's statement does not list it
    "missing_in_ledger",  # the statement lists a movement we have no record of
    "amount_mismatch",  # both sides have it, with different amounts (or currencies)
    "duplicate",  # the statement lists the same movement more than once
    "timing",  # ours, near the cut-off, expected on the next statement
    "custody_mismatch",  # three-way: the custody account got another net than the statement's
)
BREAK_STATUSES = ("open", "resolved")
RESOLUTIONS = ("post_proposed", "write_off", "mark_explained", "auto_closed")
RUN_SOURCES = ("upload", "channel")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        CheckConstraint(_in("source", RUN_SOURCES), name="source"),
        UniqueConstraint("channel_id", "statement_date", name="uq_reconciliation_runs_day"),
        Index("ix_reconciliation_runs_statement_date_id", "statement_date", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    statement_date: Mapped[date] = mapped_column(Date())
    # SHA-256 of the statement as received (CSV bytes) or as fetched (its CSV rendering).
    file_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    lines: Mapped[int]
    matched_count: Mapped[int]
    # Per currency: signed sum of matched lines (captures in, refunds out).
    matched_amounts: Mapped[dict[str, Any]]
    # Per currency: Σ line net (amount signed by kind, less the channel's fee).
    statement_net: Mapped[dict[str, Any]]
    breaks_found: Mapped[int]
    break_counts: Mapped[dict[str, Any]]
    # Timing breaks of earlier statements closed by a line on this one.
    timing_closed: Mapped[int]
    # Three-way: what the custody account statement says the channel settled (per
    # currency), when one was given, and the difference to `statement_net`.
    custody_net: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    custody_difference: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    duration_ms: Mapped[int]
    created_at: Mapped[datetime]


class ReconciliationBreak(Base):
    __tablename__ = "reconciliation_breaks"
    __table_args__ = (
        CheckConstraint(_in("type", BREAK_TYPES), name="type"),
        CheckConstraint(_in("status", BREAK_STATUSES), name="status"),
        Index("ix_reconciliation_breaks_status_id", "status", "id"),
        Index("ix_reconciliation_breaks_channel_id_status", "channel_id", "status"),
        Index("ix_reconciliation_breaks_run_id", "run_id"),
        Index("ix_reconciliation_breaks_attempt_id", "attempt_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40), ForeignKey("reconciliation_runs.id"))
    channel_id: Mapped[str] = mapped_column(String(64))
    statement_date: Mapped[date] = mapped_column(Date())
    type: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))  # capture | refund
    currency: Mapped[str] = mapped_column(String(3))
    # The statement's side (None when the statement has no line).
    line_no: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    channel_ref: Mapped[str | None] = mapped_column(String(100))
    statement_amount: Mapped[int | None]
    statement_fee: Mapped[int | None]
    # Our side (None when we have no record): the approved channel attempt.
    attempt_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    ledger_amount: Mapped[int | None]
    # Effect on what the channel owes us, had the statement been right (signed).
    difference: Mapped[int]
    occurred_at: Mapped[datetime]
    proposed_journal: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    note: Mapped[str | None] = mapped_column(String(300))
    resolution: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    journal_id: Mapped[str | None] = mapped_column(String(64))
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    resolved_at: Mapped[datetime | None]
    closed_by_run_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
