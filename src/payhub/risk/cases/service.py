"""The case workflow: open a case from alerts, assign, comment, attach alerts and
transactions, escalate, close with a disposition and a reason, reopen.

Each change locks the case row, appends numbered events to its history and records an
audit event, all in the caller's transaction. A closed case takes no change but reopening
(which is itself recorded). Closing as `suspicious_reported` drafts the suspicious
transaction report in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.payments import movements
from payhub.risk.cases.alerts import AlertView
from payhub.risk.cases.models import (
    DISPOSITIONS,
    MAX_ESCALATION,
    RiskAlert,
    RiskCase,
    RiskCaseEvent,
)
from payhub.risk.reports import suspicious

_CASES = table_of(RiskCase)
_EVENTS = table_of(RiskCaseEvent)
_ALERTS = table_of(RiskAlert)

_CASE = select(_CASES).where(_CASES.c.id == bindparam("id"))
_CASE_LOCKED = _CASE.with_for_update()
_ALERT_LOCKED = select(_ALERTS).where(_ALERTS.c.id == bindparam("id")).with_for_update()
_CASE_ALERTS = (
    select(_ALERTS).where(_ALERTS.c.case_id == bindparam("case_id")).order_by(_ALERTS.c.id)
)
_HISTORY = select(_EVENTS).where(_EVENTS.c.case_id == bindparam("case_id")).order_by(_EVENTS.c.seq)
_INSERT_CASE = insert(_CASES)
_INSERT_EVENT = insert(_EVENTS)
_TAKE_ALERT = (
    update(_ALERTS)
    .where(_ALERTS.c.id == bindparam("alert_id"))
    .values(status=bindparam("status"), case_id=bindparam("case"), updated_at=bindparam("at"))
)
_SET_ALERTS = (
    update(_ALERTS)
    .where(_ALERTS.c.case_id == bindparam("case"))
    .values(status=bindparam("status"), updated_at=bindparam("at"))
)

# What a change may set on a case: one statement for every change.
_SAVED = (
    "status",
    "assignee",
    "escalation",
    "transaction_ids",
    "disposition",
    "close_reason",
    "closed_at",
    "closed_by",
)
_SAVE = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("case"))
    .values(
        events=bindparam("events"),
        updated_at=bindparam("updated_at"),
        **{name: bindparam(name) for name in _SAVED},
    )
)

MAX_ALERTS = 100
MAX_TRANSACTIONS = 1000
MAX_TEXT = 2000


# ------------------------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class CaseEventView:
    seq: int
    kind: str
    actor: str
    details: dict[str, Any]
    note: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, row: Row) -> CaseEventView:
        return cls(
            row["seq"],
            row["kind"],
            row["actor"],
            dict(row["details"]),
            row["note"],
            row["occurred_at"],
        )


@dataclass(frozen=True, slots=True)
class CaseView:
    id: str
    title: str
    status: str
    subject_type: str
    subject_id: str
    assignee: str | None
    escalation: int
    transaction_ids: list[str]
    disposition: str | None
    close_reason: str | None
    closed_at: datetime | None
    closed_by: str | None
    opened_by: str
    created_at: datetime
    updated_at: datetime
    alerts: list[AlertView] = field(default_factory=list)
    history: list[CaseEventView] = field(default_factory=list)

    @property
    def reports(self) -> list[str]:
        """Suspicious transaction reports drafted when the case was closed."""
        return [str(e.details["report"]) for e in self.history if e.details.get("report")]

    @classmethod
    def of(
        cls,
        row: Row,
        alerts: list[AlertView] | None = None,
        history: list[CaseEventView] | None = None,
    ) -> CaseView:
        return cls(
            id=row["id"],
            title=row["title"],
            status=row["status"],
            subject_type=row["subject_type"],
            subject_id=row["subject_id"],
            assignee=row["assignee"],
            escalation=row["escalation"],
            transaction_ids=list(row["transaction_ids"]),
            disposition=row["disposition"],
            close_reason=row["close_reason"],
            closed_at=row["closed_at"],
            closed_by=row["closed_by"],
            opened_by=row["opened_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            alerts=alerts or [],
            history=history or [],
        )


# ----------------------------------------------------------------------------------- checks


def _bad(param: str, detail: str) -> PayHubError:
    return PayHubError("validation_error", param=param, detail=detail)


def _text(
    value: str | None, param: str, *, limit: int = MAX_TEXT, required: bool = True
) -> str | None:
    if value is None or not value.strip():
        if required:
            raise _bad(param, f"1-{limit} characters")
        return None
    if len(value) > limit:
        raise _bad(param, f"at most {limit} characters")
    return value.strip()


def _ids(values: Sequence[str], prefix: str, param: str, limit: int) -> list[str]:
    unique = list(dict.fromkeys(values))
    if len(unique) > limit:
        raise _bad(param, f"at most {limit}")
    for value in unique:
        if not is_id(value, prefix):
            raise PayHubError("invalid_id", param=param)
    return unique


async def _transactions(sql: Sql, values: Sequence[str]) -> list[str]:
    """Payment and refund ids that exist (others refused: a case names real money)."""
    unique = list(dict.fromkeys(values))
    if len(unique) > MAX_TRANSACTIONS:
        raise _bad("transactions", f"at most {MAX_TRANSACTIONS}")
    for value in unique:
        if not isinstance(value, str) or not await movements.transaction_exists(sql, value):
            raise PayHubError("risk_transaction_not_found", transaction=str(value)[:40])
    return unique


async def _locked_case(sql: Sql, case_id: str) -> Row:
    row = await sql.one(_CASE_LOCKED, id=case_id) if is_id(case_id, "case") else None
    if row is None:
        raise PayHubError("risk_case_not_found", case=str(case_id)[:40])
    return row


def _refuse_closed(row: Row, action: str) -> None:
    if row["status"] == "closed":
        raise PayHubError("risk_case_state", case=row["id"], status="closed", action=action)


async def _free_alerts(sql: Sql, alert_ids: list[str]) -> list[Row]:
    """The alerts, locked, each open and in no case yet."""
    rows = []
    for alert_id in sorted(alert_ids):  # one lock order for every writer
        row = await sql.one(_ALERT_LOCKED, id=alert_id)
        if row is None:
            raise PayHubError("risk_alert_not_found", alert=alert_id)
        if row["status"] != "open":
            raise PayHubError("risk_alert_taken", alert=alert_id)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------- writing


class _History:
    """Events appended to one case in this transaction, numbered after its last."""

    def __init__(self, sql: Sql, case: Row, now: datetime) -> None:
        self.sql = sql
        self.case = case
        self.now = now
        self.next = int(case["events"])
        self.actor = audit.current_actor().name[:80]

    async def add(self, kind: str, details: dict[str, Any], note: str | None = None) -> None:
        self.next += 1
        await self.sql.defer(
            _INSERT_EVENT,
            id=new_id("cev"),
            case_id=self.case["id"],
            seq=self.next,
            kind=kind,
            actor=self.actor,
            details=details,
            note=note,
            occurred_at=self.now,
        )
        await audit.record(
            self.sql,
            f"risk_case.{kind}",
            target_type="risk_case",
            target_id=self.case["id"],
            details={"seq": self.next, **details},
        )

    async def save(self, **changes: Any) -> None:
        """The case row with its changes and its new event count."""
        values = {name: changes.get(name, self.case[name]) for name in _SAVED}
        await self.sql.run(
            _SAVE, case=self.case["id"], events=self.next, updated_at=self.now, **values
        )


async def open_case(
    tx: AsyncSession | Sql,
    *,
    alert_ids: Sequence[str],
    title: str | None = None,
    assignee: str | None = None,
    note: str | None = None,
) -> CaseView:
    """A case made from open alerts (at least one); they move into it."""
    sql = await as_sql(tx)
    ids = _ids(alert_ids, "alr", "alerts", MAX_ALERTS)
    if not ids:
        raise _bad("alerts", "at least one alert")
    title = _text(title, "title", limit=200, required=False)
    assignee = _text(assignee, "assignee", limit=80, required=False)
    note = _text(note, "note", required=False)
    alerts = await _free_alerts(sql, ids)
    first = next(a for a in alerts if a["id"] == ids[0])
    now = clock.now()
    actor = audit.current_actor().name[:80]
    transactions = list(dict.fromkeys(t for a in alerts for t in a["transaction_ids"]))
    row: Row = {
        "id": new_id("case"),
        "title": title
        or f"{first['typology']} on {first['subject_type']} {first['subject_id']}"[:200],
        "status": "open",
        "subject_type": first["subject_type"],
        "subject_id": first["subject_id"],
        "assignee": None,
        "escalation": 0,
        "transaction_ids": transactions,
        "disposition": None,
        "close_reason": None,
        "closed_at": None,
        "closed_by": None,
        "events": 0,
        "opened_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    await sql.run(_INSERT_CASE, **row)
    history = _History(sql, row, now)
    await history.add("created", {"alerts": ids, "title": row["title"]}, note)
    for alert_id in ids:
        await sql.run(_TAKE_ALERT, alert_id=alert_id, status="in_case", case=row["id"], at=now)
    changes: dict[str, Any] = {}
    if assignee is not None:
        await history.add("assigned", {"assignee": assignee, "previous": None})
        changes["assignee"] = assignee
    await history.save(**changes)
    return await get_case(sql, row["id"])


async def assign(
    tx: AsyncSession | Sql, case_id: str, assignee: str | None, *, note: str | None = None
) -> CaseView:
    """Give the case to a named officer (by default the one acting)."""
    sql = await as_sql(tx)
    case = await _locked_case(sql, case_id)
    _refuse_closed(case, "assigned")
    officer = (
        _text(assignee, "assignee", limit=80, required=False) or audit.current_actor().name[:80]
    )
    note = _text(note, "note", required=False)
    history = _History(sql, case, clock.now())
    await history.add("assigned", {"assignee": officer, "previous": case["assignee"]}, note)
    await history.save(assignee=officer)
    return await get_case(sql, case_id)


async def comment(tx: AsyncSession | Sql, case_id: str, text: str) -> CaseView:
    sql = await as_sql(tx)
    case = await _locked_case(sql, case_id)
    _refuse_closed(case, "commented on")
    body = _text(text, "text")
    history = _History(sql, case, clock.now())
    await history.add("comment", {}, body)
    await history.save()
    return await get_case(sql, case_id)


async def attach(
    tx: AsyncSession | Sql,
    case_id: str,
    *,
    alert_ids: Sequence[str] = (),
    transaction_ids: Sequence[str] = (),
    note: str | None = None,
) -> CaseView:
    """More alerts (open ones, which move into the case) and transactions (payments and
    refunds, by id) to the case. Already attached ones are left as they are."""
    sql = await as_sql(tx)
    alerts = _ids(alert_ids, "alr", "alerts", MAX_ALERTS)
    if not alerts and not transaction_ids:
        raise _bad("alerts", "alerts or transactions to attach")
    note = _text(note, "note", required=False)
    case = await _locked_case(sql, case_id)
    _refuse_closed(case, "changed")
    own = {a.id for a in (await _alerts_of(sql, case_id))}
    fresh_alerts = await _free_alerts(sql, [a for a in alerts if a not in own])
    transactions = await _transactions(sql, transaction_ids)
    known = list(case["transaction_ids"])
    now = clock.now()
    history = _History(sql, case, now)
    for alert in fresh_alerts:
        await history.add("alert_attached", {"alert": alert["id"]}, note)
        await sql.run(_TAKE_ALERT, alert_id=alert["id"], status="in_case", case=case_id, at=now)
        known.extend(alert["transaction_ids"])
    for transaction in transactions:
        if transaction not in known:
            await history.add("transaction_attached", {"transaction": transaction}, note)
            known.append(transaction)
    await history.save(transaction_ids=list(dict.fromkeys(known)))
    return await get_case(sql, case_id)


async def escalate(
    tx: AsyncSession | Sql, case_id: str, *, reason: str, level: int | None = None
) -> CaseView:
    """Raise the case's escalation level (by one, or to `level`) with a reason."""
    sql = await as_sql(tx)
    why = _text(reason, "reason")
    case = await _locked_case(sql, case_id)
    _refuse_closed(case, "escalated")
    current = int(case["escalation"])
    target = current + 1 if level is None else level
    if current >= MAX_ESCALATION:
        raise PayHubError(
            "risk_case_state",
            case=case_id,
            status=f"at level {current}",
            action="escalated further",
        )
    if isinstance(target, bool) or not current < target <= MAX_ESCALATION:
        raise _bad("level", f"above {current}, at most {MAX_ESCALATION}")
    history = _History(sql, case, clock.now())
    await history.add("escalated", {"from": current, "to": target}, why)
    await history.save(escalation=target)
    return await get_case(sql, case_id)


async def close(
    tx: AsyncSession | Sql,
    case_id: str,
    *,
    disposition: str,
    reason: str,
    institution: suspicious.Institution | None = None,
) -> CaseView:
    """Close the case with a disposition and a reason; its alerts close with it. Closed as
    `suspicious_reported`, the suspicious transaction report is drafted here."""
    sql = await as_sql(tx)
    if disposition not in DISPOSITIONS:
        raise _bad("disposition", ", ".join(DISPOSITIONS))
    why = _text(reason, "reason")
    assert why is not None
    case = await _locked_case(sql, case_id)
    _refuse_closed(case, "closed again")
    now = clock.now()
    history = _History(sql, case, now)
    details: dict[str, Any] = {"disposition": disposition}
    if disposition == "suspicious_reported":
        alerts = await _alerts_of(sql, case_id)
        facts = suspicious.CaseFacts(
            case_id=case_id,
            subject_type=case["subject_type"],
            subject_id=case["subject_id"],
            typologies=sorted({t for a in alerts for t in a.typology.split(",")}),
            alert_ids=[a.id for a in alerts],
            transaction_ids=list(case["transaction_ids"]),
            reason=why,
            closed_at=now,
            closed_by=history.actor,
            attempt=history.next + 1,
        )
        details["report"] = await suspicious.draft(sql, facts, institution=institution)
    await history.add("closed", details, why)
    await sql.run(_SET_ALERTS, case=case_id, status="closed", at=now)
    await history.save(
        status="closed",
        disposition=disposition,
        close_reason=why,
        closed_at=now,
        closed_by=history.actor,
    )
    return await get_case(sql, case_id)


async def reopen(tx: AsyncSession | Sql, case_id: str, *, reason: str) -> CaseView:
    """Open a closed case again (its disposition is cleared; the history keeps it)."""
    sql = await as_sql(tx)
    why = _text(reason, "reason")
    case = await _locked_case(sql, case_id)
    if case["status"] != "closed":
        raise PayHubError("risk_case_state", case=case_id, status=case["status"], action="reopened")
    now = clock.now()
    history = _History(sql, case, now)
    await history.add("reopened", {"previous_disposition": case["disposition"]}, why)
    await sql.run(_SET_ALERTS, case=case_id, status="in_case", at=now)
    await history.save(
        status="open", disposition=None, close_reason=None, closed_at=None, closed_by=None
    )
    return await get_case(sql, case_id)


# ---------------------------------------------------------------------------------- reading


async def _alerts_of(sql: Sql, case_id: str) -> list[AlertView]:
    return [AlertView.of(r) for r in await sql.all(_CASE_ALERTS, case_id=case_id)]


async def get_case(tx: AsyncSession | Sql, case_id: str) -> CaseView:
    """A case with its alerts and its whole history."""
    sql = await as_sql(tx)
    row = await sql.one(_CASE, id=case_id) if is_id(case_id, "case") else None
    if row is None:
        raise PayHubError("risk_case_not_found", case=str(case_id)[:40])
    history = [CaseEventView.of(r) for r in await sql.all(_HISTORY, case_id=case_id)]
    return CaseView.of(row, await _alerts_of(sql, case_id), history)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    assignee: str | None = None
    subject_id: str | None = None
    disposition: str | None = None
    min_escalation: int | None = None


async def list_cases(
    tx: AsyncSession | Sql, filters: CaseFilter, *, limit: int, starting_after: str | None
) -> tuple[list[CaseView], bool]:
    """Newest first (without alerts and history: `get_case` has them)."""
    query = select(_CASES).order_by(_CASES.c.id.desc()).limit(limit + 1)
    for column, value in (
        (_CASES.c.status, filters.status),
        (_CASES.c.assignee, filters.assignee),
        (_CASES.c.subject_id, filters.subject_id),
        (_CASES.c.disposition, filters.disposition),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.min_escalation is not None:
        query = query.where(_CASES.c.escalation >= filters.min_escalation)
    if starting_after is not None:
        query = query.where(_CASES.c.id < starting_after)
    rows = [CaseView.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit
