"""Suspicious transaction report drafts, made when a case is closed as
`suspicious_reported`: the case's transactions (each money movement of its payments and
refunds), its typologies and alerts, and the officer's reason as the narrative. A compliance
officer reviews the draft, files it with the regulator and marks it filed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payhub.db.sql import Sql
from payhub.risk.reports import register, sources
from payhub.risk.reports.files import CaseHeader
from payhub.risk.reports.large_value import china_day

Institution = register.Institution


@dataclass(frozen=True, slots=True)
class CaseFacts:
    case_id: str
    subject_type: str
    subject_id: str
    typologies: list[str]
    alert_ids: list[str]
    transaction_ids: list[str]
    reason: str
    closed_at: datetime
    closed_by: str
    attempt: int  # the closing event's number: a case reopened and closed again reports anew


async def draft(sql: Sql, facts: CaseFacts, *, institution: Institution | None = None) -> str:
    """Register the draft; its id."""
    flows = await sources.flows_of(sql, facts.transaction_ids)
    flows.sort(key=lambda f: (f.at, f.id))
    rows = await sources.rows_for(sql, [(f, None) for f in flows])
    case = CaseHeader(
        id=facts.case_id,
        disposition="suspicious_reported",
        typologies=facts.typologies,
        alerts=facts.alert_ids,
        narrative=facts.reason,
    )
    report, _ = await register.add(
        sql,
        kind="suspicious",
        dedup_key=f"suspicious:{facts.case_id}:{facts.attempt}",
        report_date=china_day(facts.closed_at).isoformat(),
        rows=rows,
        case=case,
        who=institution,
    )
    return report.id
