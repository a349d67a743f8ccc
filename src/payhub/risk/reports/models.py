"""The report register. Only `payhub.risk.reports` reads or writes it.

A report keeps its files as generated (the bytes a regulator receives), their SHA-256
checksums, who generated it and when, and once filed, who filed it, when, and the
regulator's receipt reference. Files hold no card number.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

KINDS = ("large_value", "suspicious")
STATUSES = ("draft", "filed")


class RiskReport(Base):
    __tablename__ = "risk_reports"
    __table_args__ = (
        CheckConstraint("kind IN ('large_value', 'suspicious')", name="kind"),
        CheckConstraint("status IN ('draft', 'filed')", name="status"),
        Index("ix_risk_reports_kind_id", "kind", "id"),
        Index("ix_risk_reports_case_id", "case_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    # One large-value report per day ("large_value:2026-12-01"); one suspicious report per
    # closing of a case ("suspicious:case_…:7").
    dedup_key: Mapped[str] = mapped_column(String(80), unique=True)
    report_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, China Standard Time
    case_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(6))
    row_count: Mapped[int]
    customer_count: Mapped[int]
    csv: Mapped[str] = mapped_column(Text())
    xml: Mapped[str] = mapped_column(Text())
    csv_sha256: Mapped[str] = mapped_column(String(64))
    xml_sha256: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[datetime]
    generated_by: Mapped[str] = mapped_column(String(80))
    filed_at: Mapped[datetime | None]
    filed_by: Mapped[str | None] = mapped_column(String(80))
    filing_reference: Mapped[str | None] = mapped_column(String(100))
