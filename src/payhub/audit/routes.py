"""HTTP routes of the audit log (the operator, or a compliance officer's key)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ComplianceWork
from payhub.api.schemas import Limit, Timestamp, cursor
from payhub.audit import service
from payhub.audit.service import AuditView
from payhub.core.clock import to_rfc3339

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    object: Literal["audit_event"] = "audit_event"
    id: str
    occurred_at: str
    actor: str
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    source: str | None
    request_id: str | None
    details: dict[str, Any]
    chain_index: int | None
    prev_hash: str | None
    hash: str | None

    @classmethod
    def of(cls, view: AuditView) -> AuditEventOut:
        return cls(
            id=view.id,
            occurred_at=to_rfc3339(view.occurred_at),
            actor=view.actor,
            actor_role=view.actor_role,
            action=view.action,
            target_type=view.target_type,
            target_id=view.target_id,
            source=view.source,
            request_id=view.request_id,
            details=view.details,
            chain_index=view.chain_index,
            prev_hash=view.prev_hash,
            hash=view.hash,
        )


class AuditListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditEventOut]
    has_more: bool


class VerificationOut(BaseModel):
    object: Literal["audit_verification"] = "audit_verification"
    ok: bool
    verified: int
    unsealed: int
    broken_at: int | None
    broken_event: str | None
    problem: str | None


@router.get("/events", response_model=AuditListOut)
async def list_audit_events(
    uow: ComplianceWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    occurred_from: Timestamp | None = None,
    occurred_to: Timestamp | None = None,
) -> Response:
    """Newest first; filter by actor (`key:<id>`, `cli:<user>`, `system`), action, target
    id and a period."""
    after = cursor(starting_after, "aud")
    filters = service.AuditFilter(
        actor=actor,
        action=action,
        target_id=target,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await service.list_events(session, filters, limit=limit, starting_after=after)
        return AuditListOut(data=[AuditEventOut.of(r) for r in rows], has_more=more)

    return await uow.read(work)


@router.get("/events/{event_id}", response_model=AuditEventOut)
async def get_audit_event(event_id: str, uow: ComplianceWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return AuditEventOut.of(await service.get_event(session, event_id))

    return await uow.read(work)


@router.get("/verify", response_model=VerificationOut)
async def verify_audit_chain(uow: ComplianceWork) -> Response:
    """Recompute the whole chain: `ok` false names the first event that does not hold."""

    async def work(session: AsyncSession) -> BaseModel:
        result = await service.verify(session)
        return VerificationOut(
            ok=result.ok,
            verified=result.verified,
            unsealed=result.unsealed,
            broken_at=result.broken_at,
            broken_event=result.broken_event,
            problem=result.problem,
        )

    return await uow.read(work)
