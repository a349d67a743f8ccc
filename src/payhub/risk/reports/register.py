"""The register of reports: adding one (once per key), reading, marking one filed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.risk.reports.files import CaseHeader, Header, to_csv, to_xml
from payhub.risk.reports.models import RiskReport
from payhub.risk.reports.rows import ReportRow

Format = Literal["csv", "xml"]

_REPORTS = table_of(RiskReport)
_INSERT = {
    "postgresql": pg_insert(_REPORTS).on_conflict_do_nothing(index_elements=["dedup_key"]),
    "sqlite": sqlite_insert(_REPORTS).on_conflict_do_nothing(index_elements=["dedup_key"]),
}
_INSERT_RETURNING = {name: stmt.returning(_REPORTS.c.id) for name, stmt in _INSERT.items()}
_BY_ID = select(_REPORTS).where(_REPORTS.c.id == bindparam("id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()
_BY_KEY = select(_REPORTS).where(_REPORTS.c.dedup_key == bindparam("dedup_key"))
_FILE = (
    update(_REPORTS)
    .where(_REPORTS.c.id == bindparam("report"), _REPORTS.c.status == "draft")
    .values(
        status="filed",
        filed_at=bindparam("filed_at"),
        filed_by=bindparam("filed_by"),
        filing_reference=bindparam("reference"),
    )
)


@dataclass(frozen=True, slots=True)
class Institution:
    code: str
    name: str


def institution() -> Institution:
    settings = get_settings()
    return Institution(settings.aml_institution_code, settings.aml_institution_name)


@dataclass(frozen=True, slots=True)
class ReportView:
    id: str
    kind: str
    report_date: str
    case_id: str | None
    status: str
    row_count: int
    customer_count: int
    csv_sha256: str
    xml_sha256: str
    generated_at: datetime
    generated_by: str
    filed_at: datetime | None
    filed_by: str | None
    filing_reference: str | None
    csv: str
    xml: str

    @classmethod
    def of(cls, row: Row) -> ReportView:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def file(self, fmt: Format) -> bytes:
        return (self.csv if fmt == "csv" else self.xml).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def find(sql: Sql, dedup_key: str) -> ReportView | None:
    row = await sql.one(_BY_KEY, dedup_key=dedup_key)
    return ReportView.of(row) if row is not None else None


async def add(
    sql: Sql,
    *,
    kind: str,
    dedup_key: str,
    report_date: str,
    rows: list[ReportRow],
    case: CaseHeader | None = None,
    who: Institution | None = None,
) -> tuple[ReportView, bool]:
    """Write a report's files and register it; the one already registered under the key
    instead (and False) when there is one."""
    existing = await sql.one(_BY_KEY, dedup_key=dedup_key)
    if existing is not None:
        return ReportView.of(existing), False
    who = who or institution()
    report_id = new_id("rpt")
    now = clock.now()
    header = Header(
        report_id=report_id,
        kind=kind,
        institution_code=who.code,
        institution_name=who.name,
        report_date=report_date,
        generated_at=clock.to_rfc3339(now),
        case=case,
    )
    clean = [r.cleaned() for r in rows]
    csv_bytes, xml_bytes = to_csv(header, clean), to_xml(header, clean)
    made = await sql.one(
        _INSERT_RETURNING["postgresql" if sql.is_postgres else "sqlite"],
        id=report_id,
        kind=kind,
        dedup_key=dedup_key,
        report_date=report_date,
        case_id=case.id if case is not None else None,
        status="draft",
        row_count=len(clean),
        customer_count=len({r.customer_id for r in clean}),
        csv=csv_bytes.decode("utf-8"),
        xml=xml_bytes.decode("utf-8"),
        csv_sha256=sha256(csv_bytes),
        xml_sha256=sha256(xml_bytes),
        generated_at=now,
        generated_by=audit.current_actor().name[:80],
        filed_at=None,
        filed_by=None,
        filing_reference=None,
    )
    if made is None:
        # A concurrent generator registered it first.
        raced = await sql.one(_BY_KEY, dedup_key=dedup_key)
        assert raced is not None
        return ReportView.of(raced), False
    await audit.record(
        sql,
        "risk_report.generated",
        target_type="risk_report",
        target_id=report_id,
        details={"kind": kind, "report_date": report_date, "rows": len(clean)},
    )
    row = await sql.one(_BY_ID, id=report_id)
    assert row is not None
    return ReportView.of(row), True


async def get_report(tx: AsyncSession | Sql, report_id: str) -> ReportView:
    sql = await as_sql(tx)
    row = await sql.one(_BY_ID, id=report_id) if is_id(report_id, "rpt") else None
    if row is None:
        raise PayHubError("risk_report_not_found", report=str(report_id)[:40])
    return ReportView.of(row)


@dataclass(frozen=True, slots=True)
class ReportFilter:
    kind: str | None = None
    status: str | None = None
    report_date: str | None = None
    case_id: str | None = None


async def list_reports(
    tx: AsyncSession | Sql, filters: ReportFilter, *, limit: int, starting_after: str | None
) -> tuple[list[ReportView], bool]:
    query = select(_REPORTS).order_by(_REPORTS.c.id.desc()).limit(limit + 1)
    for column, value in (
        (_REPORTS.c.kind, filters.kind),
        (_REPORTS.c.status, filters.status),
        (_REPORTS.c.report_date, filters.report_date),
        (_REPORTS.c.case_id, filters.case_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if starting_after is not None:
        query = query.where(_REPORTS.c.id < starting_after)
    rows = [ReportView.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit


async def mark_filed(
    tx: AsyncSession | Sql, report_id: str, *, reference: str | None = None
) -> ReportView:
    """Record that a draft was submitted to the regulator (once: a filed report stays as
    it was filed)."""
    if reference is not None and not 1 <= len(reference) <= 100:
        raise PayHubError("validation_error", param="reference", detail="1-100 characters")
    sql = await as_sql(tx)
    row = await sql.one(_BY_ID_LOCKED, id=report_id) if is_id(report_id, "rpt") else None
    if row is None:
        raise PayHubError("risk_report_not_found", report=str(report_id)[:40])
    if row["status"] == "filed":
        raise PayHubError("risk_report_filed", report=report_id)
    who = audit.current_actor().name[:80]
    await sql.run(_FILE, report=report_id, filed_at=clock.now(), filed_by=who, reference=reference)
    await audit.record(
        sql,
        "risk_report.filed",
        target_type="risk_report",
        target_id=report_id,
        details={"kind": row["kind"], "report_date": row["report_date"], "reference": reference},
    )
    return await get_report(sql, report_id)
