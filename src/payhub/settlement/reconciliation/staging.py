"""The statement in the database for the length of one run, and the SQL the run needs,
the same text on both databases.

A statement is loaded into a temporary table (PostgreSQL: COPY, through asyncpg's
`copy_records_to_table`; SQLite: batched inserts) and matched with set-based joins against
the payment attempts; nothing reads it row by row. Temporary tables belong to the run's
connection and transaction: PostgreSQL drops them at commit, the run drops them on SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import text

from payhub.channels.base import StatementLine
from payhub.db.sql import Row, Sql

STAGE = "recon_stage"
MATCHED = "recon_matched"
CARRIED = "recon_carried"
_BATCH = 5000
_NAME = re.compile(r"(?<![:\w]):([a-z_]+)")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"

_TABLES = {
    STAGE: (
        "line_no {int} NOT NULL, kind {text} NOT NULL, request_id {text} NOT NULL, "
        "channel_ref {text} NOT NULL, authorization_ref {text}, payment_id {text} NOT NULL, "
        "amount {bigint} NOT NULL, currency {text} NOT NULL, fee {bigint} NOT NULL, "
        "occurred_at {time} NOT NULL"
    ),
    MATCHED: (
        "line_no {int} NOT NULL, kind {text} NOT NULL, request_id {text} NOT NULL, "
        "channel_ref {text} NOT NULL, amount {bigint} NOT NULL, currency {text} NOT NULL, "
        "fee {bigint} NOT NULL, occurred_at {time} NOT NULL, attempt_id {text} NOT NULL, "
        "payment_id {text} NOT NULL, our_amount {bigint}, our_currency {text} NOT NULL, "
        "our_at {time} NOT NULL, n {bigint} NOT NULL"
    ),
    CARRIED: "attempt_id {text} NOT NULL, break_id {text} NOT NULL",
}
_PG_TYPES = {"int": "integer", "bigint": "bigint", "text": "text", "time": "timestamptz"}
_LITE_TYPES = {"int": "INTEGER", "bigint": "INTEGER", "text": "TEXT", "time": "DATETIME"}


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Stage:
    """One run's statements against the run's transaction."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self.postgres = sql.is_postgres
        self._conn: Any = None

    async def open(self) -> None:
        if self.postgres:
            await self.sql.flush()
            self._conn = await self.sql.raw()
            # The run sorts and hashes a statement's worth of rows: room to do it in memory.
            await self._conn.execute("SET LOCAL work_mem = '256MB'")
        types = _PG_TYPES if self.postgres else _LITE_TYPES
        for name, columns in _TABLES.items():
            await self.execute(f"DROP TABLE IF EXISTS {self._temp(name)}")
            suffix = " ON COMMIT DROP" if self.postgres else ""
            await self.execute(
                f"CREATE TEMPORARY TABLE {name} ({columns.format(**types)}){suffix}"
            )

    async def close(self) -> None:
        """Drop the tables now (SQLite; PostgreSQL drops them at commit)."""
        if not self.postgres:
            for name in _TABLES:
                await self.execute(f"DROP TABLE IF EXISTS {self._temp(name)}")

    def _temp(self, name: str) -> str:
        return f"pg_temp.{name}" if self.postgres else f"temp.{name}"

    # -- statements ----------------------------------------------------------------------

    def _bind(self, value: Any) -> Any:
        if isinstance(value, datetime) and not self.postgres:
            return value.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
        return value

    def _pg(self, sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        return _NAME.sub(number, sql), [params[n] for n in order]

    async def execute(self, sql: str, **params: Any) -> None:
        if self.postgres:
            query, args = self._pg(sql, params)
            await self._conn.execute(query, *args)
        else:
            assert self.sql.session is not None
            bound = {k: self._bind(v) for k, v in params.items()}
            await self.sql.session.execute(text(sql), bound)

    async def fetch(self, sql: str, *, times: tuple[str, ...] = (), **params: Any) -> list[Row]:
        """Rows as dicts; the columns named in `times` as aware UTC datetimes."""
        if self.postgres:
            query, args = self._pg(sql, params)
            rows = [dict(r) for r in await self._conn.fetch(query, *args)]
        else:
            assert self.sql.session is not None
            bound = {k: self._bind(v) for k, v in params.items()}
            result = await self.sql.session.execute(text(sql), bound)
            rows = [dict(r._mapping) for r in result]
        for row in rows:
            for name in times:
                if row.get(name) is not None:
                    row[name] = _time(row[name])
        return rows

    async def insert_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Small tables: plain batched inserts."""
        if not rows:
            return
        if self.postgres:
            await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))
            return
        names = ", ".join(columns)
        marks = ", ".join(f":{c}" for c in columns)
        assert self.sql.session is not None
        await self.sql.session.execute(
            text(f"INSERT INTO {table} ({names}) VALUES ({marks})"),
            [{c: self._bind(v) for c, v in zip(columns, row, strict=True)} for row in rows],
        )

    async def load(self, lines: Iterable[StatementLine]) -> int:
        """Stage the statement; how many lines. PostgreSQL streams it with COPY."""
        numbered = (
            (
                n,
                ln.kind.value,
                ln.request_id,
                ln.channel_ref,
                ln.authorization_ref,
                ln.payment_id,
                ln.amount,
                ln.currency,
                ln.fee,
                ln.occurred_at,
            )
            for n, ln in enumerate(lines, start=1)
        )
        columns = (
            "line_no", "kind", "request_id", "channel_ref", "authorization_ref",
            "payment_id", "amount", "currency", "fee", "occurred_at",
        )  # fmt: skip
        total = 0
        while True:
            batch = list(islice(numbered, _BATCH if not self.postgres else 100_000))
            if not batch:
                break
            await self.insert_rows(STAGE, columns, batch)
            total += len(batch)
        if self.postgres:
            await self._conn.execute(f"ANALYZE {STAGE}")
        return total
