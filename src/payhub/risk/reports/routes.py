"""`/v1/risk/reports`: the register of regulatory reports, generating a day's large-value
report, downloading a report's files, marking one filed. Platform keys with the operator
or the compliance scope only."""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ComplianceWork
from payhub.api.schemas import Limit, cursor
from payhub.core.errors import PayHubError
from payhub.risk.reports import daily, register
from payhub.risk.reports.models import KINDS, STATUSES
from payhub.risk.reports.schemas import FiledIn, LargeValueIn, ReportOut, ReportsOut

router = APIRouter(prefix="/v1/risk/reports", tags=["risk reports"])

_MEDIA = {"csv": "text/csv; charset=utf-8", "xml": "application/xml"}


@router.get("", response_model=ReportsOut)
async def list_reports(
    uow: ComplianceWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    report_date: str | None = None,
    case: str | None = None,
) -> Response:
    """Newest first: what was generated, and what was filed, when and by whom."""
    after = cursor(starting_after, "rpt")
    for param, value, allowed in (("kind", kind, KINDS), ("status", status, STATUSES)):
        if value is not None and value not in allowed:
            raise PayHubError("validation_error", param=param, detail=", ".join(allowed))
    day = daily.parse_day(report_date).isoformat() if report_date is not None else None
    filters = register.ReportFilter(kind=kind, status=status, report_date=day, case_id=case)

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await register.list_reports(
            session, filters, limit=limit, starting_after=after
        )
        return ReportsOut(data=[ReportOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.post(
    "/large_value",
    status_code=201,
    response_model=ReportOut,
    responses={200: {"model": ReportOut, "description": "The day's report, made before."}},
)
async def generate_large_value(body: LargeValueIn, uow: ComplianceWork) -> Response:
    """The day's large-value report: made now (201), or the one already made (200)."""
    day = daily.parse_day(body.day)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view, created = await daily.generate_large_value(session, day)
        return ReportOut.of(view), 201 if created else 200

    return await uow.write(work)


@router.get("/{report_id}", response_model=ReportOut)
async def get_report(report_id: str, uow: ComplianceWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return ReportOut.of(await register.get_report(session, report_id))

    return await uow.read(work)


@router.get(
    "/{report_id}/file",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/xml": {}}}},
)
async def get_report_file(
    report_id: str, uow: ComplianceWork, format: Literal["csv", "xml"] = "csv"
) -> Response:
    """The file as generated, byte for byte (its SHA-256 in `Content-Digest` and in the
    register)."""
    view = await uow.db.run_in_transaction(lambda s: register.get_report(s, report_id))
    data = view.file(format)
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    name = f"{view.kind}_{view.report_date}_{view.id}.{format}"
    return Response(
        data,
        media_type=_MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Digest": f"sha-256=:{digest}:",
        },
    )


@router.post("/{report_id}/file_submitted", response_model=ReportOut)
async def mark_filed(report_id: str, body: FiledIn, uow: ComplianceWork) -> Response:
    """Record that the report was submitted to the regulator (once)."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await register.mark_filed(session, report_id, reference=body.reference)
        return ReportOut.of(view), 200

    return await uow.write(work)
