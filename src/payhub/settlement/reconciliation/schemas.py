"""Request and response bodies of the reconciliation routes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel
from payhub.core.clock import to_rfc3339
from payhub.settlement.reconciliation.service import BreakView, DailyReport, RunView

Action = Literal["post_proposed", "write_off", "mark_explained"]


class RunIn(StrictModel):
    """Reconcile a channel's day. Without `statement_csv` the statement is fetched from the
    channel's adapter; a CSV file can also be sent as the body itself (`text/csv`, with
    `channel` and `date` as query parameters)."""

    channel: str = Field(min_length=1, max_length=64)
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The statement's day (UTC).")
    statement_csv: str | None = Field(default=None, description="The statement as CSV text.")
    custody: dict[str, int] | None = Field(
        default=None,
        description="Three-way: the net the custody account received from the channel that "
        "day, per currency, in minor units.",
    )


class ResolveIn(StrictModel):
    action: Action
    reason: str = Field(min_length=1, max_length=500)


class RunOut(BaseModel):
    object: Literal["reconciliation_run"] = "reconciliation_run"
    id: str
    channel: str
    date: str
    file_hash: str
    source: str
    status: str
    lines: int
    matched_count: int
    matched_amounts: dict[str, int]
    statement_net: dict[str, int]
    breaks_found: int
    break_counts: dict[str, int]
    timing_closed: int
    custody_net: dict[str, int] | None
    custody_difference: dict[str, int] | None
    duration_ms: int
    created_at: str

    @classmethod
    def of(cls, v: RunView) -> RunOut:
        return cls(
            id=v.id,
            channel=v.channel_id,
            date=v.statement_date.isoformat(),
            file_hash=v.file_hash,
            source=v.source,
            status=v.status,
            lines=v.lines,
            matched_count=v.matched_count,
            matched_amounts=v.matched_amounts,
            statement_net=v.statement_net,
            breaks_found=v.breaks_found,
            break_counts=v.break_counts,
            timing_closed=v.timing_closed,
            custody_net=v.custody_net,
            custody_difference=v.custody_difference,
            duration_ms=v.duration_ms,
            created_at=to_rfc3339(v.created_at),
        )


class RunsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunOut]
    has_more: bool


class BreakOut(BaseModel):
    object: Literal["reconciliation_break"] = "reconciliation_break"
    id: str
    run: str
    channel: str
    date: str
    type: str
    status: str
    kind: str
    currency: str
    line_no: int | None
    request_id: str | None
    channel_ref: str | None
    statement_amount: int | None
    statement_fee: int | None
    attempt: str | None
    payment: str | None
    ledger_amount: int | None
    difference: int
    occurred_at: str
    age_days: int
    proposed_journal: dict[str, Any] | None
    note: str | None
    resolution: str | None
    reason: str | None
    journal: str | None
    resolved_by: str | None
    resolved_at: str | None
    closed_by_run: str | None
    created_at: str

    @classmethod
    def of(cls, v: BreakView, today: dt.date) -> BreakOut:
        return cls(
            id=v.id,
            run=v.run_id,
            channel=v.channel_id,
            date=v.statement_date.isoformat(),
            type=v.type,
            status=v.status,
            kind=v.kind,
            currency=v.currency,
            line_no=v.line_no,
            request_id=v.request_id,
            channel_ref=v.channel_ref,
            statement_amount=v.statement_amount,
            statement_fee=v.statement_fee,
            attempt=v.attempt_id,
            payment=v.payment_id,
            ledger_amount=v.ledger_amount,
            difference=v.difference,
            occurred_at=to_rfc3339(v.occurred_at),
            age_days=v.age_days(today),
            proposed_journal=v.proposed_journal,
            note=v.note,
            resolution=v.resolution,
            reason=v.reason,
            journal=v.journal_id,
            resolved_by=v.resolved_by,
            resolved_at=to_rfc3339(v.resolved_at) if v.resolved_at else None,
            closed_by_run=v.closed_by_run_id,
            created_at=to_rfc3339(v.created_at),
        )


class BreaksOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[BreakOut]
    has_more: bool


class DailyReportOut(BaseModel):
    object: Literal["reconciliation_report"] = "reconciliation_report"
    channel: str
    date: str
    run: str | None
    lines: int
    matched_count: int
    matched_amounts: dict[str, int]
    statement_net: dict[str, int]
    custody_difference: dict[str, int] | None
    breaks_by_type: dict[str, int]
    timing_closed: int
    open_breaks: int
    open_by_age: dict[str, int]
    open_difference: dict[str, int]

    @classmethod
    def of(cls, r: DailyReport) -> DailyReportOut:
        return cls(
            channel=r.channel_id,
            date=r.date.isoformat(),
            run=r.run_id,
            lines=r.lines,
            matched_count=r.matched_count,
            matched_amounts=r.matched_amounts,
            statement_net=r.statement_net,
            custody_difference=r.custody_difference,
            breaks_by_type=r.breaks_by_type,
            timing_closed=r.timing_closed,
            open_breaks=r.open_breaks,
            open_by_age=r.open_by_age,
            open_difference=r.open_difference,
        )
