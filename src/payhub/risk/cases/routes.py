"""`/v1/risk/alerts` and `/v1/risk/cases`: the compliance team's work on alerts. Platform
keys with the operator or the compliance scope only; merchant keys get 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ComplianceWork
from payhub.api.schemas import Limit, cursor
from payhub.core.errors import PayHubError
from payhub.risk.cases import alerts, service
from payhub.risk.cases.models import ALERT_STATUSES, CASE_STATUSES, DISPOSITIONS, SOURCES
from payhub.risk.cases.schemas import (
    AlertOut,
    AlertsOut,
    AssignIn,
    AttachIn,
    CaseIn,
    CaseOut,
    CasesOut,
    CloseIn,
    CommentIn,
    EscalateIn,
    ReopenIn,
)
from payhub.risk.cases.service import CaseView

router = APIRouter(prefix="/v1/risk", tags=["risk cases"])


def _one_of(value: str | None, allowed: tuple[str, ...], param: str) -> str | None:
    if value is not None and value not in allowed:
        raise PayHubError("validation_error", param=param, detail=", ".join(allowed))
    return value


@router.get("/alerts", response_model=AlertsOut)
async def list_alerts(
    uow: ComplianceWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    status: str | None = None,
    typology: str | None = None,
    source: str | None = None,
    subject: str | None = None,
    case: str | None = None,
) -> Response:
    """Newest first; filtered by status, typology (alone or among several), source,
    subject or case."""
    after = cursor(starting_after, "alr")
    filters = alerts.AlertFilter(
        status=_one_of(status, ALERT_STATUSES, "status"),
        typology=typology,
        source=_one_of(source, SOURCES, "source"),
        subject_id=subject,
        case_id=case,
    )

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await alerts.list_alerts(session, filters, limit=limit, starting_after=after)
        return AlertsOut(data=[AlertOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
async def get_alert(alert_id: str, uow: ComplianceWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return AlertOut.of(await alerts.get_alert(session, alert_id))

    return await uow.read(work)


@router.post("/cases", status_code=201, response_model=CaseOut)
async def open_case(body: CaseIn, uow: ComplianceWork) -> Response:
    """A case from open alerts (they move into it)."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.open_case(
            session, alert_ids=body.alerts, title=body.title, assignee=body.assignee, note=body.note
        )
        return CaseOut.of(view), 201

    return await uow.write(work)


@router.get("/cases", response_model=CasesOut)
async def list_cases(
    uow: ComplianceWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    status: str | None = None,
    assignee: str | None = None,
    subject: str | None = None,
    disposition: str | None = None,
    min_escalation: int | None = None,
) -> Response:
    """Newest first, without alerts and history (one case has them)."""
    after = cursor(starting_after, "case")
    if min_escalation is not None and not 0 <= min_escalation <= 3:
        raise PayHubError("validation_error", param="min_escalation", detail="0 to 3")
    filters = service.CaseFilter(
        status=_one_of(status, CASE_STATUSES, "status"),
        assignee=assignee,
        subject_id=subject,
        disposition=_one_of(disposition, DISPOSITIONS, "disposition"),
        min_escalation=min_escalation,
    )

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_cases(session, filters, limit=limit, starting_after=after)
        return CasesOut(data=[CaseOut.of(v, full=False) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: str, uow: ComplianceWork) -> Response:
    """A case with its alerts and its whole history."""

    async def work(session: AsyncSession) -> BaseModel:
        return CaseOut.of(await service.get_case(session, case_id))

    return await uow.read(work)


async def _change(
    uow: ComplianceWork, change: Callable[[AsyncSession], Awaitable[CaseView]]
) -> Response:
    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return CaseOut.of(await change(session)), 200

    return await uow.write(work)


@router.post("/cases/{case_id}/assign", response_model=CaseOut)
async def assign(case_id: str, body: AssignIn, uow: ComplianceWork) -> Response:
    """Give the case to an officer: a key id or a name; yourself by default."""
    return await _change(uow, lambda s: service.assign(s, case_id, body.assignee, note=body.note))


@router.post("/cases/{case_id}/comment", response_model=CaseOut)
async def comment(case_id: str, body: CommentIn, uow: ComplianceWork) -> Response:
    return await _change(uow, lambda s: service.comment(s, case_id, body.text))


@router.post("/cases/{case_id}/attach", response_model=CaseOut)
async def attach(case_id: str, body: AttachIn, uow: ComplianceWork) -> Response:
    """More open alerts, and transactions (payment and refund ids), to the case."""
    return await _change(
        uow,
        lambda s: service.attach(
            s, case_id, alert_ids=body.alerts, transaction_ids=body.transactions, note=body.note
        ),
    )


@router.post("/cases/{case_id}/escalate", response_model=CaseOut)
async def escalate(case_id: str, body: EscalateIn, uow: ComplianceWork) -> Response:
    return await _change(
        uow, lambda s: service.escalate(s, case_id, reason=body.reason, level=body.level)
    )


@router.post("/cases/{case_id}/close", response_model=CaseOut)
async def close(case_id: str, body: CloseIn, uow: ComplianceWork) -> Response:
    """Close with a disposition and a reason; `suspicious_reported` drafts the suspicious
    transaction report (see `reports` on the case)."""
    return await _change(
        uow, lambda s: service.close(s, case_id, disposition=body.disposition, reason=body.reason)
    )


@router.post("/cases/{case_id}/reopen", response_model=CaseOut)
async def reopen(case_id: str, body: ReopenIn, uow: ComplianceWork) -> Response:
    return await _change(uow, lambda s: service.reopen(s, case_id, reason=body.reason))
