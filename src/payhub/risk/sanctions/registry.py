"""Loading watch lists: a load replaces the list's entries and records a version, in the
caller's transaction, so readers see the old list or the new one, never a mixture."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.ids import new_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.risk.sanctions.lists import Format, WatchEntry, checksum
from payhub.risk.sanctions.models import VERSION_PREFIX, SanctionsEntry, SanctionsListVersion

_VERSIONS = table_of(SanctionsListVersion)
_ENTRIES = table_of(SanctionsEntry)
# Rows a statement inserts at once (PostgreSQL takes at most 32,767 parameters).
INSERT_BATCH = 2000


@dataclass(frozen=True, slots=True)
class ListVersionView:
    id: str
    list_name: str
    format: str
    entries: int
    checksum: str
    loaded_at: datetime
    loaded_by: str
    rescreened_at: datetime | None
    current: bool

    @classmethod
    def of(cls, row: Row, current: bool) -> ListVersionView:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k != "current"}
        return cls(**fields, current=current)


_LATEST = select(_VERSIONS.c.list_name, func.max(_VERSIONS.c.id).label("id")).group_by(
    _VERSIONS.c.list_name
)
_VERSION = select(_VERSIONS).where(_VERSIONS.c.id == bindparam("id"))
_DELETE_ENTRIES = delete(_ENTRIES).where(_ENTRIES.c.list_name == bindparam("list_name"))
_INSERT_ENTRY = insert(_ENTRIES)
_INSERT_VERSION = insert(_VERSIONS)
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:key AS bigint))")
_PENDING = select(_VERSIONS.c.id).where(_VERSIONS.c.rescreened_at.is_(None))
_RESCREENED = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id == bindparam("version"))
    .values(rescreened_at=bindparam("at"))
)


async def current_versions(tx: AsyncSession | Sql) -> dict[str, str]:
    """Each loaded list's current version: {list name: version id}."""
    rows = await (await as_sql(tx)).all(_LATEST)
    return {row["list_name"]: row["id"] for row in rows}


async def _lock_list(sql: Sql, list_name: str) -> None:
    """One load of a list at a time (SQLite's write lock already orders them)."""
    if sql.is_postgres:
        key = zlib.crc32(f"sanctions:{list_name}".encode())
        await sql.run(_ADVISORY_LOCK, key=key)


def _entry_row(entry: WatchEntry, version_id: str) -> dict[str, object]:
    return {
        "list_name": entry.list_name,
        "entry_id": entry.entry_id,
        "version_id": version_id,
        "name": entry.name,
        "aliases": list(entry.aliases),
        "entry_type": entry.entry_type,
        "countries": list(entry.countries),
        "birth_dates": list(entry.birth_dates),
        "program": entry.program,
    }


async def load_list(
    tx: AsyncSession | Sql, list_name: str, fmt: Format, entries: list[WatchEntry]
) -> tuple[ListVersionView, bool]:
    """Make `entries` the list's content; the version, and whether it is new (a list
    identical to the current version is left as it is)."""
    sql = await as_sql(tx)
    await _lock_list(sql, list_name)
    digest = checksum(entries)
    current = (await current_versions(sql)).get(list_name)
    if current is not None:
        row = await sql.one(_VERSION, id=current)
        assert row is not None
        if row["checksum"] == digest:
            return ListVersionView.of(row, current=True), False
    version_id = new_id(VERSION_PREFIX)
    await sql.run(_DELETE_ENTRIES, list_name=list_name)
    rows = [_entry_row(e, version_id) for e in entries]
    for start in range(0, len(rows), INSERT_BATCH):
        await sql.run_many(_INSERT_ENTRY, rows[start : start + INSERT_BATCH])
    version = {
        "id": version_id,
        "list_name": list_name,
        "format": fmt,
        "entries": len(entries),
        "checksum": digest,
        "loaded_at": clock.now(),
        "loaded_by": audit.current_actor().name[:80],
        "rescreened_at": None,
    }
    await sql.run(_INSERT_VERSION, **version)
    await audit.record(
        sql,
        "sanctions_list.loaded",
        target_type="sanctions_list_version",
        target_id=version_id,
        details={"list": list_name, "format": fmt, "entries": len(entries), "checksum": digest},
    )
    return ListVersionView.of(version, current=True), True


async def list_versions(
    tx: AsyncSession | Sql, *, limit: int, starting_after: str | None = None
) -> tuple[list[ListVersionView], bool]:
    """Every version of every list, newest first."""
    sql = await as_sql(tx)
    query = select(_VERSIONS).order_by(_VERSIONS.c.id.desc()).limit(limit + 1)
    if starting_after:
        query = query.where(_VERSIONS.c.id < starting_after)
    rows = await sql.all_once(query)
    current = set((await current_versions(sql)).values())
    views = [ListVersionView.of(r, current=r["id"] in current) for r in rows[:limit]]
    return views, len(rows) > limit


async def pending_rescreen(tx: AsyncSession | Sql) -> list[str]:
    """Versions no rescreen has covered yet."""
    return [row["id"] for row in await (await as_sql(tx)).all(_PENDING)]


async def mark_rescreened(tx: AsyncSession | Sql, versions: list[str]) -> None:
    sql = await as_sql(tx)
    at = clock.now()
    for version in versions:
        await sql.run(_RESCREENED, version=version, at=at)
