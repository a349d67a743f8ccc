"""Per-merchant settlement settings, managed by operators and audited.

A merchant without a row settles T+1 at its calendar's default cut-off with no reserve
(`DEFAULTS`). Every change is checked whole before anything is written, bumps the row's
version, and is recorded in the audit log with the settings before and after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.sql import Sql, as_sql, table_of
from payhub.merchants import service as merchants
from payhub.settlement.balances.models import MODES, SettlementSettings
from payhub.settlement.calendar import (
    BusinessCalendar,
    CalendarError,
    load_calendar,
    parse_cutoff,
)

MAX_RESERVE_DAYS = 365


@dataclass(frozen=True, slots=True)
class SettingsView:
    merchant_id: str
    mode: str
    cutoff: str
    reserve_bps: int
    reserve_days: int
    calendar: str
    version: int  # 0: never configured, the defaults apply
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def realtime(self) -> bool:
        return self.mode == "realtime"

    def business_calendar(self) -> BusinessCalendar:
        return load_calendar(self.calendar)

    def settings(self) -> dict[str, Any]:
        """The settings themselves, for the audit log."""
        return {
            k: v
            for k, v in asdict(self).items()
            if k in ("mode", "cutoff", "reserve_bps", "reserve_days", "calendar")
        }


def defaults(merchant_id: str) -> SettingsView:
    return SettingsView(merchant_id, "t1", "23:00", 0, 0, "CN", 0, None, None)


_SETTINGS = table_of(SettlementSettings)
_GET = select(_SETTINGS).where(_SETTINGS.c.merchant_id == bindparam("merchant_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
_ALL = select(_SETTINGS)
_INSERT = insert(_SETTINGS)
_UPDATE = (
    update(_SETTINGS)
    .where(_SETTINGS.c.merchant_id == bindparam("key"))
    .values(
        {
            c.name: bindparam(c.name)
            for c in _SETTINGS.c
            if c.name not in ("merchant_id", "created_at")
        }
    )
)
_SEED = {
    "postgresql": pg_insert(_SETTINGS).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(_SETTINGS).on_conflict_do_nothing(),
}


def _view(row: dict[str, Any]) -> SettingsView:
    return SettingsView(
        merchant_id=row["merchant_id"],
        mode=row["mode"],
        cutoff=row["cutoff"],
        reserve_bps=int(row["reserve_bps"]),
        reserve_days=int(row["reserve_days"]),
        calendar=row["calendar"],
        version=int(row["version"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get_settings(tx: AsyncSession | Sql, merchant_id: str) -> SettingsView:
    """The merchant's settings (the defaults when an operator never set any)."""
    row = await (await as_sql(tx)).one(_GET, merchant_id=merchant_id)
    return defaults(merchant_id) if row is None else _view(row)


async def all_settings(tx: AsyncSession | Sql) -> dict[str, SettingsView]:
    """Every configured merchant's settings (the job's plan of who is due)."""
    rows = await (await as_sql(tx)).all(_ALL)
    return {row["merchant_id"]: _view(row) for row in rows}


async def lock_settings(
    tx: AsyncSession | Sql, merchant_id: str, *, skip_locked: bool = False
) -> SettingsView | None:
    """Take the merchant's settlement lock (its settings row, made with the defaults when
    missing) for the transaction. With `skip_locked`, None when another transaction holds
    it (PostgreSQL; SQLite has one writer at a time)."""
    sql = await as_sql(tx)
    now = clock.now()
    seed = defaults(merchant_id)
    await sql.run(
        _SEED["postgresql" if sql.is_postgres else "sqlite"],
        **{**_row_values(seed), "created_at": now, "updated_at": now},
    )
    statement = _GET.with_for_update(skip_locked=True) if skip_locked else _GET_FOR_UPDATE
    row = await sql.one(statement, merchant_id=merchant_id)
    return None if row is None else _view(row)


def _row_values(view: SettingsView) -> dict[str, Any]:
    return {
        "merchant_id": view.merchant_id,
        "mode": view.mode,
        "cutoff": view.cutoff,
        "reserve_bps": view.reserve_bps,
        "reserve_days": view.reserve_days,
        "calendar": view.calendar,
        "version": view.version,
    }


def _invalid(param: str, detail: str) -> PayHubError:
    return PayHubError("settlement_setting_invalid", param=param, detail=detail)


def check_changes(current: SettingsView, changes: dict[str, Any]) -> SettingsView:
    """The settings after `changes` (only the fields given change), every field checked
    before anything is written."""
    unknown = set(changes) - {"mode", "cutoff", "reserve_bps", "reserve_days", "calendar"}
    if unknown:
        raise _invalid(sorted(unknown)[0], "not a settlement setting")
    merged = {**current.settings(), **{k: v for k, v in changes.items() if v is not None}}
    if merged["mode"] not in MODES:
        raise _invalid("mode", "realtime or t1")
    try:
        parse_cutoff(str(merged["cutoff"]))
    except ValueError as exc:
        raise _invalid("cutoff", str(exc)) from None
    bps, days = merged["reserve_bps"], merged["reserve_days"]
    if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= 10_000:
        raise _invalid("reserve_bps", "a whole number of basis points, 0 to 10000")
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RESERVE_DAYS:
        raise _invalid("reserve_days", f"a whole number of days, 0 to {MAX_RESERVE_DAYS}")
    if bps > 0 and days == 0:
        raise _invalid("reserve_days", "a reserve must be held for at least one day")
    country = str(merged["calendar"]).upper()
    try:
        load_calendar(country)
    except CalendarError:
        raise PayHubError("calendar_unknown", param="calendar", country=country[:8]) from None
    return SettingsView(
        merchant_id=current.merchant_id,
        mode=merged["mode"],
        cutoff=str(merged["cutoff"]),
        reserve_bps=bps,
        reserve_days=days,
        calendar=country,
        version=current.version + 1,
        created_at=current.created_at,
        updated_at=current.updated_at,
    )


async def update_settings(
    tx: AsyncSession | Sql, merchant_id: str, changes: dict[str, Any]
) -> SettingsView:
    """Change a merchant's settings (operators); audited with before and after. Takes
    effect for the next capture (real time) and the next run (daily)."""
    sql = await as_sql(tx)
    await merchants.get_merchant(sql, merchant_id)  # merchant_not_found
    row = await sql.one(_GET_FOR_UPDATE, merchant_id=merchant_id)
    current = defaults(merchant_id) if row is None else _view(row)
    changed = check_changes(current, changes)
    now = clock.now()
    values = _row_values(changed)
    if row is None:
        await sql.run(_INSERT, **values, created_at=now, updated_at=now)
    else:
        await sql.run(_UPDATE, key=merchant_id, **values, updated_at=now)
    await audit.record(
        sql,
        "settlement settings changed",
        target_type="merchant",
        target_id=merchant_id,
        details={"before": current.settings(), "after": changed.settings()},
    )
    return await get_settings(sql, merchant_id)
