"""Ledger tables. Only `payhub.ledger.service` reads or writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("code", "currency", name="uq_ledger_accounts_code_currency"),
        # Lets entries reference (account, currency) so the database refuses a posting in
        # a currency the account does not hold.
        UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        CheckConstraint("normal_side IN ('debit', 'credit')", name="normal_side"),
        CheckConstraint("shards >= 1 AND shards <= 256", name="shards"),
        CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
            name="one_limit",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(160))
    currency: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    normal_side: Mapped[str] = mapped_column(String(6))
    debits_must_not_exceed_credits: Mapped[bool] = mapped_column(default=False)
    credits_must_not_exceed_debits: Mapped[bool] = mapped_column(default=False)
    # More than one shard makes a hot account: postings spread over its balance rows.
    shards: Mapped[int] = mapped_column(Integer, default=1)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime]


class Balance(Base):
    """Running totals of one account (or one shard of a hot account): O(1) balance reads."""

    __tablename__ = "ledger_balances"
    __table_args__ = (
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0"
            " AND credits_pending >= 0 AND credits_posted >= 0",
            name="non_negative",
        ),
    )

    account_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("ledger_accounts.id"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    debits_pending: Mapped[int] = mapped_column(default=0)
    debits_posted: Mapped[int] = mapped_column(default=0)
    credits_pending: Mapped[int] = mapped_column(default=0)
    credits_posted: Mapped[int] = mapped_column(default=0)


class Journal(Base):
    """A set of postings that balance per currency. Never updated, never deleted."""

    __tablename__ = "ledger_journals"
    __table_args__ = (
        CheckConstraint("kind IN ('standard', 'hold', 'hold_post', 'reversal')", name="kind"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # sha256 of the canonical content: a repeat of the same id must carry the same content.
    content_hash: Mapped[str] = mapped_column(String(64))
    # A journal is reversed at most once; a hold is resolved by at most one posting.
    reverses_journal_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("ledger_journals.id"), unique=True
    )
    hold_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("ledger_journals.id"), unique=True
    )
    posted_at: Mapped[datetime] = mapped_column(index=True)


class Entry(Base):
    """One posting line of a journal. Never updated, never deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_entries_account_currency",
        ),
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
        CheckConstraint("amount > 0", name="positive_amount"),
        Index("ix_ledger_entries_account_posted", "account_id", "posted_at"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    journal_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("ledger_journals.id"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(40))
    shard: Mapped[int] = mapped_column(Integer, default=0)
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # Entries of a hold's journal reserve funds; they never count in posted balances.
    pending: Mapped[bool] = mapped_column(default=False)
    posted_at: Mapped[datetime]


class Hold(Base):
    """The state of a two-phase hold; its reserved lines are the entries of journal `id`."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')", name="status"),
        Index("ix_ledger_holds_pending_expiry", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), ForeignKey("ledger_journals.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    post_journal_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
