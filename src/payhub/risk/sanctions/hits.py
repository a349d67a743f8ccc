"""Potential matches awaiting compliance's decision: clear (not the listed party) or
confirm (it is). A decision is made once, with a reason, and is written to the audit log
in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.risk.sanctions.models import HIT_PREFIX, SanctionsHit, SanctionsScreening

Decision = Literal["cleared", "confirmed"]

_HITS = table_of(SanctionsHit)
_SCREENINGS = table_of(SanctionsScreening)
_HIT = select(_HITS).where(_HITS.c.id == bindparam("id"))
_HIT_FOR_UPDATE = _HIT.with_for_update()
_DECIDE = (
    update(_HITS)
    .where(_HITS.c.id == bindparam("hit_id"), _HITS.c.status == "open")
    .values(
        status=bindparam("status"),
        decided_at=bindparam("decided_at"),
        decided_by=bindparam("decided_by"),
        reason=bindparam("reason"),
    )
)


@dataclass(frozen=True, slots=True)
class HitView:
    id: str
    screening_id: str
    subject_type: str
    subject_id: str
    subject_name: str
    list_name: str
    entry_id: str
    entry: dict[str, Any]
    matched_name: str
    score: float
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def of(cls, row: Row) -> HitView:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


def check_hit_id(hit_id: str, param: str = "hit_id") -> str:
    if not is_id(hit_id, HIT_PREFIX):
        raise PayHubError("invalid_id", param=param)
    return hit_id


async def get_hit(tx: AsyncSession | Sql, hit_id: str) -> HitView:
    row = await (await as_sql(tx)).one(_HIT, id=hit_id)
    if row is None:
        raise PayHubError("sanctions_hit_not_found", hit=hit_id)
    return HitView.of(row)


async def list_hits(
    tx: AsyncSession | Sql,
    *,
    status: str | None,
    subject_id: str | None,
    limit: int,
    starting_after: str | None = None,
) -> tuple[list[HitView], bool]:
    """Hits, newest first, by status and subject."""
    query = select(_HITS).order_by(_HITS.c.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(_HITS.c.status == status)
    if subject_id is not None:
        query = query.where(_HITS.c.subject_id == subject_id)
    if starting_after:
        query = query.where(_HITS.c.id < starting_after)
    rows = await (await as_sql(tx)).all_once(query)
    return [HitView.of(r) for r in rows[:limit]], len(rows) > limit


async def decide(
    tx: AsyncSession | Sql, hit_id: str, decision: Decision, *, reason: str
) -> HitView:
    """Clear or confirm an open hit; a decided hit stays as it was decided."""
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= 500:
        raise PayHubError("validation_error", param="reason", detail="1 to 500 characters")
    sql = await as_sql(tx)
    row = await sql.one(_HIT_FOR_UPDATE, id=hit_id)
    if row is None:
        raise PayHubError("sanctions_hit_not_found", hit=hit_id)
    if row["status"] != "open":
        raise PayHubError("sanctions_hit_decided", hit=hit_id, status=row["status"])
    actor = audit.current_actor()
    changes = {
        "status": decision,
        "decided_at": clock.now(),
        "decided_by": actor.name[:80],
        "reason": reason,
    }
    await sql.run(_DECIDE, hit_id=hit_id, **changes)
    await audit.record(
        sql,
        f"sanctions_hit.{decision}",
        target_type="sanctions_hit",
        target_id=hit_id,
        details={
            "subject_type": row["subject_type"],
            "subject_id": row["subject_id"],
            "list": row["list_name"],
            "entry_id": row["entry_id"],
            "score": row["score"],
            "reason": reason,
        },
    )
    return HitView.of({**row, **changes})


async def list_screenings(
    tx: AsyncSession | Sql,
    *,
    subject_id: str | None,
    outcome: str | None,
    limit: int,
    starting_after: str | None = None,
) -> tuple[list[Row], bool]:
    """Screenings, newest first, by subject and outcome (rows: `ScreeningView.of`)."""
    query = select(_SCREENINGS).order_by(_SCREENINGS.c.id.desc()).limit(limit + 1)
    if subject_id is not None:
        query = query.where(_SCREENINGS.c.subject_id == subject_id)
    if outcome is not None:
        query = query.where(_SCREENINGS.c.outcome == outcome)
    if starting_after:
        query = query.where(_SCREENINGS.c.id < starting_after)
    rows = await (await as_sql(tx)).all_once(query)
    return rows[:limit], len(rows) > limit


def standing_subquery(subject_type: str, subject_param: str) -> Any:
    """The worst standing hit of the subject bound to `subject_param`, as a scalar
    subquery for another statement (the risk decision's): 2 confirmed, 1 open, 0 none or
    all cleared."""
    rank = case((_HITS.c.status == "confirmed", 2), (_HITS.c.status == "open", 1), else_=0)
    return (
        select(func.coalesce(func.max(rank), 0))
        .where(
            _HITS.c.subject_type == subject_type,
            _HITS.c.subject_id == bindparam(subject_param),
        )
        .scalar_subquery()
    )
