"""Request and response bodies of the report routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel
from payhub.core.clock import to_rfc3339
from payhub.risk.reports.register import ReportView


class LargeValueIn(StrictModel):
    day: str = Field(
        description="The day (YYYY-MM-DD, China Standard Time); it must be over.",
        examples=["2026-12-01"],
    )


class FiledIn(StrictModel):
    reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="The regulator's receipt."
    )


class ReportOut(BaseModel):
    object: Literal["risk_report"] = "risk_report"
    id: str
    kind: Literal["large_value", "suspicious"]
    report_date: str
    case: str | None
    status: Literal["draft", "filed"]
    rows: int
    customers: int
    csv_sha256: str
    xml_sha256: str
    generated_at: str
    generated_by: str
    filed_at: str | None
    filed_by: str | None
    filing_reference: str | None

    @classmethod
    def of(cls, r: ReportView) -> ReportOut:
        return cls(
            id=r.id,
            kind=r.kind,
            report_date=r.report_date,
            case=r.case_id,
            status=r.status,
            rows=r.row_count,
            customers=r.customer_count,
            csv_sha256=r.csv_sha256,
            xml_sha256=r.xml_sha256,
            generated_at=to_rfc3339(r.generated_at),
            generated_by=r.generated_by,
            filed_at=to_rfc3339(r.filed_at) if r.filed_at else None,
            filed_by=r.filed_by,
            filing_reference=r.filing_reference,
        )


class ReportsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ReportOut]
    has_more: bool
