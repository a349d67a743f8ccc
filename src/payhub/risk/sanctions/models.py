"""Sanctions screening tables. Only `payhub.risk.sanctions` reads or writes them.

A list's entries are replaced whole when it is loaded (one transaction), and each load is
a version row; screenings name the versions they were screened against, and hits keep a
copy of the entry, so both still read the same after the list moves on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base

# Id prefixes: list versions, screenings, hits.
VERSION_PREFIX = "slv"
SCREENING_PREFIX = "scr"
HIT_PREFIX = "hit"


class SanctionsListVersion(Base):
    __tablename__ = "sanctions_list_versions"
    __table_args__ = (
        Index("ix_sanctions_list_versions_list_name_id", "list_name", "id"),
        CheckConstraint("format IN ('csv', 'ftm')", name="format"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    entries: Mapped[int]
    # SHA-256 of the entries as loaded (not of the file's bytes).
    checksum: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime]
    loaded_by: Mapped[str] = mapped_column(String(80))
    # When every customer and merchant had been screened against it; None until then.
    rescreened_at: Mapped[datetime | None]


class SanctionsEntry(Base):
    __tablename__ = "sanctions_entries"
    __table_args__ = (CheckConstraint("entry_type IN ('person', 'organisation')", name="type"),)

    list_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(500))
    aliases: Mapped[list[str]]
    entry_type: Mapped[str] = mapped_column(String(12))
    countries: Mapped[list[str]]
    birth_dates: Mapped[list[str]]
    program: Mapped[str | None] = mapped_column(String(500))


class SanctionsScreening(Base):
    __tablename__ = "sanctions_screenings"
    __table_args__ = (
        Index("ix_sanctions_screenings_subject", "subject_type", "subject_id", "id"),
        CheckConstraint("outcome IN ('clear', 'potential_match')", name="outcome"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # customer, merchant, payee; `name` for an ad-hoc screen of a name alone.
    subject_type: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    names: Mapped[list[str]]
    # onboarding, rescreen, api, payout
    reason: Mapped[str] = mapped_column(String(12))
    screened_at: Mapped[datetime]
    # The list versions in force (empty: no list was loaded yet).
    list_versions: Mapped[list[str]]
    threshold: Mapped[float] = mapped_column(Float())
    outcome: Mapped[str] = mapped_column(String(20))
    hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON())


class SanctionsHit(Base):
    """A potential match for compliance to decide: open until cleared (a false positive)
    or confirmed (the subject is the listed party)."""

    __tablename__ = "sanctions_hits"
    __table_args__ = (
        Index("ix_sanctions_hits_status_id", "status", "id"),
        Index("ix_sanctions_hits_subject", "subject_type", "subject_id"),
        Index("ix_sanctions_hits_fingerprint", "fingerprint", unique=True),
        CheckConstraint("status IN ('open', 'cleared', 'confirmed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    screening_id: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[str] = mapped_column(String(40))
    subject_name: Mapped[str] = mapped_column(String(500))
    list_name: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(200))
    # The entry as it was listed when the hit was raised.
    entry: Mapped[dict[str, Any]]
    matched_name: Mapped[str] = mapped_column(String(500))
    score: Mapped[float] = mapped_column(Float())
    # The same subject, name and listed entry raise one hit, not one per screening: a
    # hit compliance cleared stays cleared until the name or the entry changes.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(String(500))
