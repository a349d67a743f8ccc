"""Request and response bodies of the alert and case routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel
from payhub.core.clock import to_rfc3339
from payhub.risk.cases.alerts import AlertView
from payhub.risk.cases.service import CaseEventView, CaseView

Disposition = Literal[
    "false_positive", "explained", "duplicate", "suspicious_not_reported", "suspicious_reported"
]
_Text = Field(min_length=1, max_length=2000)


class CaseIn(StrictModel):
    alerts: list[str] = Field(min_length=1, max_length=100, description="Open alerts' ids.")
    title: str | None = Field(default=None, max_length=200)
    assignee: str | None = Field(default=None, max_length=80, description="A key id or a name.")
    note: str | None = Field(default=None, max_length=2000)


class AssignIn(StrictModel):
    assignee: str | None = Field(
        default=None, max_length=80, description="A key id or a name (default: yourself)."
    )
    note: str | None = Field(default=None, max_length=2000)


class CommentIn(StrictModel):
    text: str = _Text


class AttachIn(StrictModel):
    alerts: list[str] = Field(default_factory=list, max_length=100)
    transactions: list[str] = Field(
        default_factory=list, max_length=1000, description="Payment and refund ids."
    )
    note: str | None = Field(default=None, max_length=2000)


class EscalateIn(StrictModel):
    reason: str = _Text
    level: int | None = Field(default=None, ge=1, le=3, description="Default: one level up.")


class CloseIn(StrictModel):
    disposition: Disposition
    reason: str = _Text


class ReopenIn(StrictModel):
    reason: str = _Text


class AlertOut(BaseModel):
    object: Literal["risk_alert"] = "risk_alert"
    id: str
    source: str
    typology: str
    subject_type: str
    subject: str
    score: int
    explanation: str
    transactions: list[str]
    evidence: dict[str, Any]
    dedup_key: str | None
    revision: int = Field(description="1 when raised; + 1 each time its source revised it.")
    status: str
    case: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, a: AlertView) -> AlertOut:
        return cls(
            id=a.id,
            source=a.source,
            typology=a.typology,
            subject_type=a.subject_type,
            subject=a.subject_id,
            score=a.score,
            explanation=a.explanation,
            transactions=a.transaction_ids,
            evidence=a.evidence,
            dedup_key=a.dedup_key,
            revision=a.revision,
            status=a.status,
            case=a.case_id,
            created_at=to_rfc3339(a.created_at),
            updated_at=to_rfc3339(a.updated_at),
        )


class AlertsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[AlertOut]
    has_more: bool


class CaseEventOut(BaseModel):
    seq: int
    kind: str
    actor: str
    details: dict[str, Any]
    note: str | None
    occurred_at: str

    @classmethod
    def of(cls, e: CaseEventView) -> CaseEventOut:
        return cls(
            seq=e.seq,
            kind=e.kind,
            actor=e.actor,
            details=e.details,
            note=e.note,
            occurred_at=to_rfc3339(e.occurred_at),
        )


class CaseOut(BaseModel):
    object: Literal["risk_case"] = "risk_case"
    id: str
    title: str
    status: str
    subject_type: str
    subject: str
    assignee: str | None
    escalation: int
    transactions: list[str]
    disposition: str | None
    close_reason: str | None
    closed_at: str | None
    closed_by: str | None
    opened_by: str
    created_at: str
    updated_at: str
    alerts: list[AlertOut] | None = Field(default=None, description="On a single case only.")
    history: list[CaseEventOut] | None = Field(default=None, description="On a single case only.")
    reports: list[str] | None = Field(
        default=None, description="Suspicious transaction reports drafted on closing."
    )

    @classmethod
    def of(cls, c: CaseView, *, full: bool = True) -> CaseOut:
        return cls(
            id=c.id,
            title=c.title,
            status=c.status,
            subject_type=c.subject_type,
            subject=c.subject_id,
            assignee=c.assignee,
            escalation=c.escalation,
            transactions=c.transaction_ids,
            disposition=c.disposition,
            close_reason=c.close_reason,
            closed_at=to_rfc3339(c.closed_at) if c.closed_at else None,
            closed_by=c.closed_by,
            opened_by=c.opened_by,
            created_at=to_rfc3339(c.created_at),
            updated_at=to_rfc3339(c.updated_at),
            alerts=[AlertOut.of(a) for a in c.alerts] if full else None,
            history=[CaseEventOut.of(e) for e in c.history] if full else None,
            reports=c.reports if full else None,
        )


class CasesOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[CaseOut]
    has_more: bool
