"""Raising and reading alerts.

`raise_alert` writes in the caller's transaction (an ORM session or a `Sql` unit) and is
idempotent by `dedup_key`: the insert does nothing when the key is taken, and the alert
already raised under it is returned. Two writers racing with one key end with one alert:
the second insert waits on the unique index for the first transaction, then finds its row.
`defer_inline_alert` is the decision's hook: the same insert, deferred with the unit's
other writes, so a payment sent to review costs no extra round trip. `revise_alert` stores
a later revision of an open alert (the monitor's finding grew: more transactions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.risk.cases.models import SOURCES, SUBJECT_TYPES, RiskAlert

Source = Literal["inline", "monitoring", "sanctions"]
SubjectType = Literal["customer", "merchant", "account", "card"]

_ALERTS = table_of(RiskAlert)
_INSERT = {
    "postgresql": pg_insert(_ALERTS).on_conflict_do_nothing(index_elements=["dedup_key"]),
    "sqlite": sqlite_insert(_ALERTS).on_conflict_do_nothing(index_elements=["dedup_key"]),
}
_INSERT_RETURNING = {name: stmt.returning(_ALERTS.c.id) for name, stmt in _INSERT.items()}
_BY_ID = select(_ALERTS).where(_ALERTS.c.id == bindparam("id"))
_BY_KEY = select(_ALERTS).where(_ALERTS.c.dedup_key == bindparam("dedup_key"))
# Only an open alert takes a revision, and only a newer one: an alert in a case or closed
# is what an officer worked on, and is not changed underneath them.
_REVISE = (
    update(_ALERTS)
    .where(
        _ALERTS.c.dedup_key == bindparam("key"),
        _ALERTS.c.status == "open",
        _ALERTS.c.revision < bindparam("new_revision"),
    )
    .values(
        score=bindparam("new_score"),
        explanation=bindparam("new_explanation"),
        transaction_ids=bindparam("new_transaction_ids"),
        evidence=bindparam("new_evidence"),
        revision=bindparam("new_revision"),
        updated_at=bindparam("now"),
    )
    .returning(*_ALERTS.c)
)
_OF_SUBJECT = (
    select(_ALERTS)
    .where(
        _ALERTS.c.subject_id == bindparam("subject_id"),
        _ALERTS.c.source == bindparam("source"),
        _ALERTS.c.typology == bindparam("typology"),
    )
    .order_by(_ALERTS.c.id.desc())
    .limit(bindparam("limit"))
)

_TYPOLOGY = re.compile(r"[a-z0-9][a-z0-9_.:+-]*(,[a-z0-9][a-z0-9_.:+-]*)*")
_TRANSACTION = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_TRANSACTIONS = 1000
MAX_EVIDENCE_BYTES = 256_000


@dataclass(frozen=True, slots=True)
class AlertView:
    id: str
    source: str
    typology: str
    subject_type: str
    subject_id: str
    score: int
    explanation: str
    transaction_ids: list[str]
    evidence: dict[str, Any]
    dedup_key: str | None
    status: str
    case_id: str | None
    created_at: datetime
    updated_at: datetime
    revision: int = 1

    @classmethod
    def of(cls, row: Row) -> AlertView:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["transaction_ids"] = list(row["transaction_ids"])
        values["evidence"] = dict(row["evidence"])
        return cls(**values)


def _bad(param: str, detail: str) -> PayHubError:
    return PayHubError("validation_error", param=param, detail=detail)


def _checked_finding(
    score: int, explanation: str, transaction_ids: Sequence[str], evidence: Mapping[str, Any]
) -> list[str]:
    """What was found (a new alert's or a revision's); the transaction ids, each once."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise _bad("score", "an integer from 0 to 100")
    if not isinstance(explanation, str) or not 1 <= len(explanation) <= 2000:
        raise _bad("explanation", "1-2000 characters")
    ids = list(transaction_ids)
    if len(ids) > MAX_TRANSACTIONS or not all(
        isinstance(t, str) and _TRANSACTION.fullmatch(t) for t in ids
    ):
        raise _bad("transaction_ids", f"at most {MAX_TRANSACTIONS} ids")
    try:
        size = len(json.dumps(dict(evidence), ensure_ascii=False))
    except (TypeError, ValueError):
        raise _bad("evidence", "a JSON object") from None
    if size > MAX_EVIDENCE_BYTES:
        raise _bad("evidence", f"at most {MAX_EVIDENCE_BYTES} bytes of JSON")
    return list(dict.fromkeys(ids))


def _checked(
    *,
    source: str,
    typology: str,
    subject_type: str,
    subject_id: str,
    score: int,
    explanation: str,
    transaction_ids: Sequence[str],
    evidence: Mapping[str, Any],
    dedup_key: str | None,
) -> dict[str, Any]:
    """The row's values, or the first thing wrong with them (nothing is written then)."""
    if source not in SOURCES:
        raise _bad("source", "inline, monitoring or sanctions")
    if not isinstance(typology, str) or len(typology) > 200 or not _TYPOLOGY.fullmatch(typology):
        raise _bad("typology", "1-200 lowercase names joined by commas")
    if subject_type not in SUBJECT_TYPES:
        raise _bad("subject_type", "customer, merchant, account or card")
    if not isinstance(subject_id, str) or not 1 <= len(subject_id) <= 80:
        raise _bad("subject_id", "1-80 characters")
    ids = _checked_finding(score, explanation, transaction_ids, evidence)
    if dedup_key is not None and (not isinstance(dedup_key, str) or not 1 <= len(dedup_key) <= 200):
        raise _bad("dedup_key", "1-200 characters")
    now = clock.now()
    return {
        "id": new_id("alr"),
        "source": source,
        "typology": typology,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "score": score,
        "explanation": explanation,
        "transaction_ids": ids,
        "evidence": dict(evidence),
        "dedup_key": dedup_key,
        "revision": 1,
        "status": "open",
        "case_id": None,
        "created_at": now,
        "updated_at": now,
    }


def _dialect(sql: Sql) -> str:
    return "postgresql" if sql.is_postgres else "sqlite"


async def raise_alert(
    tx: AsyncSession | Sql,
    *,
    source: Source,
    typology: str,
    subject_type: SubjectType,
    subject_id: str,
    score: int,
    explanation: str,
    transaction_ids: Sequence[str] = (),
    evidence: Mapping[str, Any] | None = None,
    dedup_key: str | None = None,
) -> AlertView:
    """Raise an alert in the caller's transaction; with `dedup_key`, a repeat returns the
    alert already raised under it (whatever its status) and writes nothing."""
    values = _checked(
        source=source,
        typology=typology,
        subject_type=subject_type,
        subject_id=subject_id,
        score=score,
        explanation=explanation,
        transaction_ids=transaction_ids,
        evidence=evidence or {},
        dedup_key=dedup_key,
    )
    sql = await as_sql(tx)
    made = await sql.one(_INSERT_RETURNING[_dialect(sql)], **values)
    if made is None:
        existing = await sql.one(_BY_KEY, dedup_key=dedup_key)
        assert existing is not None  # the conflict was on this key, committed before us
        return AlertView.of(existing)
    row = await sql.one(_BY_ID, id=values["id"])
    assert row is not None
    return AlertView.of(row)


async def revise_alert(
    tx: AsyncSession | Sql,
    *,
    dedup_key: str,
    revision: int,
    score: int,
    explanation: str,
    transaction_ids: Sequence[str],
    evidence: Mapping[str, Any],
) -> AlertView | None:
    """Store revision `revision` of the open alert raised under `dedup_key`: its score,
    explanation, transactions and evidence replace the stored ones. None, and nothing
    written, when no open alert has the key (none was raised, or it is in a case or closed:
    raise a follow-up instead) or the stored revision is not older. Not audited, as raising
    is not: the alert's own fields say what the source saw, and case work is audited."""
    ids = _checked_finding(score, explanation, transaction_ids, evidence)
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 2:
        raise _bad("revision", "an integer above 1")
    sql = await as_sql(tx)
    row = await sql.one(
        _REVISE,
        key=dedup_key,
        new_revision=revision,
        new_score=score,
        new_explanation=explanation,
        new_transaction_ids=ids,
        new_evidence=dict(evidence),
        now=clock.now(),
    )
    return AlertView.of(row) if row is not None else None


async def alert_by_key(tx: AsyncSession | Sql, dedup_key: str) -> AlertView | None:
    row = await (await as_sql(tx)).one(_BY_KEY, dedup_key=dedup_key)
    return AlertView.of(row) if row is not None else None


async def alerts_of_subject(
    tx: AsyncSession | Sql, *, source: Source, subject_id: str, typology: str, limit: int = 20
) -> list[AlertView]:
    """The newest alerts of one source, typology and subject."""
    rows = await (await as_sql(tx)).all(
        _OF_SUBJECT, subject_id=subject_id, source=source, typology=typology, limit=limit
    )
    return [AlertView.of(r) for r in rows]


async def defer_inline_alert(
    sql: Sql,
    *,
    payment_id: str,
    decision_id: str,
    subject_type: SubjectType,
    subject_id: str,
    score: int,
    fired: Sequence[Mapping[str, Any]],
    rules_version: int,
) -> None:
    """The alert of a payment the in-line decision sent to review: written with the unit's
    other writes (one per payment, keyed by it)."""
    rules = [str(f.get("rule", "")) for f in fired if f.get("rule")]
    values = _checked(
        source="inline",
        typology=",".join(rules)[:200] or "review",
        subject_type=subject_type,
        subject_id=subject_id,
        score=min(max(score, 0), 100),
        explanation=f"Payment {payment_id} sent to review by risk rules: "
        + (", ".join(rules) or "score over the review line"),
        transaction_ids=[payment_id],
        evidence={
            "decision": decision_id,
            "rules_version": rules_version,
            "fired": [dict(f) for f in fired],
        },
        dedup_key=f"inline:{payment_id}",
    )
    await sql.defer(_INSERT[_dialect(sql)], **values)


# ------------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: str | None = None
    typology: str | None = None  # alerts naming this typology (alone or among others)
    source: str | None = None
    subject_id: str | None = None
    case_id: str | None = None


def _typology_named(name: str) -> Any:
    column = _ALERTS.c.typology
    literal = name.replace("_", "\\_")  # names hold underscores, LIKE's any-character
    return or_(
        column == name,
        column.like(f"{literal},%", escape="\\"),
        column.like(f"%,{literal}", escape="\\"),
        column.like(f"%,{literal},%", escape="\\"),
    )


async def list_alerts(
    tx: AsyncSession | Sql, filters: AlertFilter, *, limit: int, starting_after: str | None
) -> tuple[list[AlertView], bool]:
    """Newest first, a page after the cursor; and whether more follow."""
    query = select(_ALERTS).order_by(_ALERTS.c.id.desc()).limit(limit + 1)
    for column, value in (
        (_ALERTS.c.status, filters.status),
        (_ALERTS.c.source, filters.source),
        (_ALERTS.c.subject_id, filters.subject_id),
        (_ALERTS.c.case_id, filters.case_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.typology is not None:
        if not _TYPOLOGY.fullmatch(filters.typology) or "," in filters.typology:
            raise _bad("typology", "one typology name")
        query = query.where(_typology_named(filters.typology))
    if starting_after is not None:
        query = query.where(_ALERTS.c.id < starting_after)
    rows = [AlertView.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit


async def get_alert(tx: AsyncSession | Sql, alert_id: str) -> AlertView:
    row = await (await as_sql(tx)).one(_BY_ID, id=alert_id) if is_id(alert_id, "alr") else None
    if row is None:
        raise PayHubError("risk_alert_not_found", alert=str(alert_id)[:40])
    return AlertView.of(row)
