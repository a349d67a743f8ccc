"""Audit tables. Only `payhub.audit.service` writes them.

An event is written with the change it records (same transaction), unsealed. The sealer
job then links events into one chain in the order it finds them: each sealed event gets
the next `chain_index`, the previous event's hash, and its own hash over its content and
that previous hash. The database refuses to delete an event and to change one except to
seal it once, so a row changed afterwards by any other means breaks the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at_id", "occurred_at", "id"),
        Index("ix_audit_events_target", "target_type", "target_id"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_chain_index", "chain_index", unique=True),
        CheckConstraint(
            "(chain_index IS NULL AND hash IS NULL) OR "
            "(chain_index IS NOT NULL AND hash IS NOT NULL)",
            name="sealed_whole",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    occurred_at: Mapped[datetime]
    # "key:<api key id>", "cli", "system", "channel:<id>"; with the key's role when a key.
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(120))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(120))
    # Where from: the client address of an API request, "cli", or None (a job).
    source: Mapped[str | None] = mapped_column(String(80))
    request_id: Mapped[str | None] = mapped_column(String(40))
    # What the action concerned, never a secret, card number or security code.
    details: Mapped[dict[str, Any]]
    chain_index: Mapped[int | None] = mapped_column(BigInteger())
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The chain's last sealed event: one row, locked by the sealer (one sealer at a time)."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_index: Mapped[int] = mapped_column(BigInteger())
    last_hash: Mapped[str] = mapped_column(String(64))
