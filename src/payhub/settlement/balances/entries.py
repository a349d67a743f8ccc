"""The settlement register: one row per settlement journal (or per daily run that had
nothing to move), read by the balance API and the reserve release."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db.sql import Sql, as_sql, table_of
from payhub.events import service as events
from payhub.settlement.balances.journals import Movement
from payhub.settlement.balances.models import SettlementEntry

_ENTRIES = table_of(SettlementEntry)
_INSERT = insert(_ENTRIES)
_GET = select(_ENTRIES).where(_ENTRIES.c.id == bindparam("id"))
_LAST_DAILY = select(func.max(_ENTRIES.c.business_day)).where(
    _ENTRIES.c.merchant_id == bindparam("merchant_id"),
    _ENTRIES.c.currency == bindparam("currency"),
    _ENTRIES.c.kind == "daily",
)
_LAST_DAILIES = (
    select(
        _ENTRIES.c.merchant_id,
        _ENTRIES.c.currency,
        func.max(_ENTRIES.c.business_day).label("last_day"),
    )
    .where(_ENTRIES.c.kind == "daily")
    .group_by(_ENTRIES.c.merchant_id, _ENTRIES.c.currency)
)
_RELEASED = (
    update(_ENTRIES)
    .where(_ENTRIES.c.id == bindparam("key"))
    .values(reserve_released_at=bindparam("at"), released=bindparam("released"))
)


@dataclass(frozen=True, slots=True)
class EntryView:
    id: str
    merchant_id: str
    currency: str
    kind: str
    mode: str
    business_day: date
    window_end: datetime | None
    amount: int
    available: int
    reserve: int
    reserve_taken: int
    reserve_release_at: datetime | None
    reserve_released_at: datetime | None
    released: int
    reference: str | None
    posted_at: datetime

    @property
    def journal_id(self) -> str | None:
        """The ledger journal (None: a daily run that had nothing to move)."""
        return self.id if self.amount != 0 else None


_FIELDS = tuple(f.name for f in fields(EntryView))


def entry_view(row: dict[str, Any]) -> EntryView:
    values = {name: row[name] for name in _FIELDS}
    if not isinstance(values["business_day"], date):
        values["business_day"] = date.fromisoformat(str(values["business_day"]))
    return EntryView(**values)


def entry_object(view: EntryView) -> dict[str, Any]:
    """The API's and the events' representation."""
    from payhub.core.clock import to_rfc3339

    def moment(value: datetime | None) -> str | None:
        return to_rfc3339(value) if value is not None else None

    return {
        "id": view.id,
        "object": "settlement",
        "merchant": view.merchant_id,
        "currency": view.currency,
        "kind": view.kind,
        "mode": view.mode,
        "business_day": view.business_day.isoformat(),
        "window_end": moment(view.window_end),
        "amount": view.amount,
        "available": view.available,
        "reserve": view.reserve,
        "reserve_taken": view.reserve_taken,
        "reserve_release_at": moment(view.reserve_release_at),
        "reserve_released_at": moment(view.reserve_released_at),
        "released": view.released,
        "journal": view.journal_id,
        "reference": view.reference,
        "posted_at": to_rfc3339(view.posted_at),
    }


async def add_entry(
    tx: AsyncSession | Sql,
    *,
    entry_id: str,
    merchant_id: str,
    currency: str,
    kind: str,
    mode: str,
    business_day: date,
    move: Movement,
    now: datetime,
    reserve_days: int,
    window_end: datetime | None = None,
    reference: str | None = None,
) -> EntryView:
    """Register a settlement and emit its event (`balance.settled` for money made
    available, `balance.recovered` for money taken back into pending)."""
    view = EntryView(
        id=entry_id,
        merchant_id=merchant_id,
        currency=currency,
        kind=kind,
        mode=mode,
        business_day=business_day,
        window_end=window_end,
        amount=move.amount,
        available=move.available,
        reserve=move.reserve,
        reserve_taken=move.reserve_taken,
        reserve_release_at=now + timedelta(days=reserve_days) if move.reserve > 0 else None,
        reserve_released_at=None,
        released=0,
        reference=reference,
        posted_at=now,
    )
    sql = await as_sql(tx)
    await sql.defer(_INSERT, **{name: getattr(view, name) for name in _FIELDS})
    if move.amount != 0:
        await events.emit(
            sql,
            type="balance.settled" if move.amount > 0 else "balance.recovered",
            merchant_id=merchant_id,
            data={"object": entry_object(view)},
        )
    return view


# Settlement ids: `stl_rt_…`, `stl_rf_…`, `stl_d_…` and the journal ids they embed.
ENTRY_ID = re.compile(r"^stl_[a-z]{1,2}_[A-Za-z0-9_]{1,57}$")


async def get_entry(tx: AsyncSession | Sql, entry_id: str, *, merchant_id: str | None) -> EntryView:
    found = ENTRY_ID.fullmatch(entry_id) is not None
    row = await (await as_sql(tx)).one(_GET, id=entry_id) if found else None
    if row is None or (merchant_id is not None and row["merchant_id"] != merchant_id):
        raise PayHubError("settlement_not_found", settlement=entry_id[:64])
    return entry_view(row)


async def last_daily_day(tx: AsyncSession | Sql, merchant_id: str, currency: str) -> date | None:
    value = await (await as_sql(tx)).value(_LAST_DAILY, merchant_id=merchant_id, currency=currency)
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def last_daily_days(tx: AsyncSession | Sql) -> dict[tuple[str, str], date]:
    """The last daily run's business day of every merchant × currency."""
    rows = await (await as_sql(tx)).all(_LAST_DAILIES)
    return {(r["merchant_id"], r["currency"]): _day(r["last_day"]) for r in rows}


async def list_entries(
    tx: AsyncSession | Sql,
    *,
    merchant_id: str | None,
    limit: int,
    starting_after: str | None = None,
    kind: str | None = None,
    currency: str | None = None,
) -> tuple[list[EntryView], bool]:
    """Newest first (by posting time, then id)."""
    sql = await as_sql(tx)
    query = select(_ENTRIES).order_by(_ENTRIES.c.posted_at.desc(), _ENTRIES.c.id.desc())
    if merchant_id is not None:
        query = query.where(_ENTRIES.c.merchant_id == merchant_id)
    if kind is not None:
        query = query.where(_ENTRIES.c.kind == kind)
    if currency is not None:
        query = query.where(_ENTRIES.c.currency == currency)
    if starting_after is not None:
        anchor = await get_entry(sql, starting_after, merchant_id=merchant_id)
        query = query.where(
            tuple_(_ENTRIES.c.posted_at, _ENTRIES.c.id) < tuple_(anchor.posted_at, anchor.id)
        )
    rows = await sql.all_once(query.limit(limit + 1))
    return [entry_view(r) for r in rows[:limit]], len(rows) > limit


def due_releases(now: datetime, limit: int, *, postgres: bool) -> Any:
    """Entries whose reserve is due back (oldest first), claimed so that workers in other
    processes skip them."""
    query = (
        select(_ENTRIES)
        .where(
            _ENTRIES.c.reserve > 0,
            _ENTRIES.c.reserve_released_at.is_(None),
            _ENTRIES.c.reserve_release_at <= now,
        )
        .order_by(_ENTRIES.c.reserve_release_at, _ENTRIES.c.id)
        .limit(limit)
    )
    return query.with_for_update(skip_locked=True) if postgres else query


async def mark_released(tx: AsyncSession | Sql, entry_id: str, at: datetime, released: int) -> None:
    await (await as_sql(tx)).run(_RELEASED, key=entry_id, at=at, released=released)
