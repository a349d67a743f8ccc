"""Alert, case and case-history tables. Only `payhub.risk.cases` reads or writes them.

Transactions are named by id (payments, refunds, payouts); no column holds card data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

SOURCES = ("inline", "monitoring", "sanctions")
SUBJECT_TYPES = ("customer", "merchant", "account", "card")
ALERT_STATUSES = ("open", "in_case", "closed")
CASE_STATUSES = ("open", "closed")
# How a closed case ended (see docs/aml-cases.md).
DISPOSITIONS = (
    "false_positive",
    "explained",
    "duplicate",
    "suspicious_not_reported",
    "suspicious_reported",
)
EVENT_KINDS = (
    "created",
    "assigned",
    "comment",
    "alert_attached",
    "transaction_attached",
    "escalated",
    "closed",
    "reopened",
)
MAX_ESCALATION = 3


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class RiskAlert(Base):
    __tablename__ = "risk_alerts"
    __table_args__ = (
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint(_in("subject_type", SUBJECT_TYPES), name="subject_type"),
        CheckConstraint(_in("status", ALERT_STATUSES), name="status"),
        CheckConstraint("score >= 0 AND score <= 100", name="score"),
        Index("ix_risk_alerts_status_id", "status", "id"),
        Index("ix_risk_alerts_subject_id_id", "subject_id", "id"),
        Index("ix_risk_alerts_case_id", "case_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(12))
    # What was seen: a rule or typology name, or several joined by commas.
    typology: Mapped[str] = mapped_column(String(200))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(80))
    score: Mapped[int]
    explanation: Mapped[str] = mapped_column(String(2000))
    transaction_ids: Mapped[list[str]] = mapped_column(JSON())
    # What the source saw: a sub-graph {nodes, edges}, the rules that fired, a list match.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON())
    # The raiser's key: the same key again returns the alert already raised.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # 1 when raised; + 1 each time its source revised it (more transactions, same finding).
    revision: Mapped[int] = mapped_column(server_default="1")
    status: Mapped[str] = mapped_column(String(10))
    case_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RiskCase(Base):
    __tablename__ = "risk_cases"
    __table_args__ = (
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint(
            f"disposition IS NULL OR {_in('disposition', DISPOSITIONS)}", name="disposition"
        ),
        CheckConstraint(f"escalation >= 0 AND escalation <= {MAX_ESCALATION}", name="escalation"),
        Index("ix_risk_cases_status_id", "status", "id"),
        Index("ix_risk_cases_assignee_id", "assignee", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    # The subject of the first alert: whom the case is about.
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(80))
    assignee: Mapped[str | None] = mapped_column(String(80))
    escalation: Mapped[int]
    transaction_ids: Mapped[list[str]] = mapped_column(JSON())
    disposition: Mapped[str | None] = mapped_column(String(30))
    close_reason: Mapped[str | None] = mapped_column(String(2000))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(80))
    # How many events the history holds: the next event's sequence number.
    events: Mapped[int]
    opened_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RiskCaseEvent(Base):
    __tablename__ = "risk_case_events"
    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
        UniqueConstraint("case_id", "seq", name="uq_risk_case_events_case_id_seq"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), ForeignKey("risk_cases.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(JSON())
    note: Mapped[str | None] = mapped_column(Text())
    occurred_at: Mapped[datetime]
