"""Statements written once, as SQLAlchemy Core, and run the cheapest way each database allows.

On PostgreSQL a statement is compiled once per process (SQL text, parameter order, the
column types' conversions) and then sent straight down the asyncpg connection, which keeps
it prepared: no ORM unit of work, no greenlet hop, no per-call compilation. That is most of
what a request costs in Python, and the payment path runs some twenty statements per
payment. On SQLite the same statement goes through the session as usual.

Statements name their parameters with `bindparam("name")` and are module-level constants,
so the plan is made once per statement object. Values in a statement (`column == "x"`)
become fixed parameters. A list parameter (`IN`) is not supported on the fast path: use
a join or `= ANY` in a statement of its own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Delete, Update, UpdateBase
from sqlalchemy.sql.selectable import Select

T = TypeVar("T")
Row = dict[str, Any]
Processor = Callable[[Any], Any] | None

_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled for asyncpg: text, parameters in order, conversions."""

    sql: str
    names: tuple[str, ...]
    fixed: tuple[Any, ...]  # the value of a parameter the statement itself holds, else _MISSING
    binds: tuple[Processor, ...]
    columns: tuple[str, ...]
    results: tuple[Processor, ...]
    converts: bool  # any result conversion at all (most rows need none)
    # A plain read (no lock, no write): in a unit it may run before the transaction opens.
    plain_read: bool
    # For a write: its table, and whether it changes rows already there (UPDATE, DELETE).
    table: str | None = None
    changes_rows: bool = False


_plans: dict[int, tuple[Executable, _Plan]] = {}


def _plan(statement: Any, *, keep: bool = True) -> _Plan:
    cached = _plans.get(id(statement))
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(compiled.positiontup or ())
    if any("POSTCOMPILE" in name for name in names) or "POSTCOMPILE" in compiled.string:
        raise TypeError("a list parameter (IN) cannot run on the fast path")
    fixed = []
    binds = []
    for name in names:
        bind = compiled.binds[name]
        fixed.append(_MISSING if bind.required or bind.value is None else bind.effective_value)
        binds.append(bind.type.bind_processor(_DIALECT))
    # The compiled statement's own account of its result columns: a generative copy of a
    # statement may carry a stale memo of the original's `exported_columns`.
    columns: list[str] = []
    results: list[Processor] = []
    for entry in compiled._result_columns:
        columns.append(str(entry.keyname))
        results.append(entry.type.result_processor(_DIALECT, None))
    plan = _Plan(
        sql=compiled.string,
        names=names,
        fixed=tuple(fixed),
        binds=tuple(binds),
        columns=tuple(columns),
        results=tuple(results),
        converts=any(p is not None for p in results),
        plain_read=isinstance(statement, Select)
        and " FOR UPDATE" not in compiled.string
        and " FOR SHARE" not in compiled.string,
        table=_written_table(statement),
        changes_rows=isinstance(statement, Update | Delete),
    )
    if keep:
        # Keep the statement itself alive with its plan, so its id cannot be reused.
        _plans[id(statement)] = (statement, plan)
    return plan


def _written_table(statement: Any) -> str | None:
    if not isinstance(statement, UpdateBase):
        return None
    table = statement.table
    return str(table.name) if isinstance(table, Table) else str(table)


def _arguments(plan: _Plan, params: Mapping[str, Any]) -> list[Any]:
    args = []
    for name, fixed, bind in zip(plan.names, plan.fixed, plan.binds, strict=True):
        value = params.get(name, fixed)
        if value is _MISSING:
            raise TypeError(f"missing value for parameter {name!r}")
        args.append(bind(value) if bind is not None and value is not None else value)
    return args


def _row(plan: _Plan, record: Any) -> Row:
    if not plan.converts:
        return dict(zip(plan.columns, record, strict=True))
    return {
        name: (convert(value) if convert is not None else value)
        for name, convert, value in zip(plan.columns, plan.results, record, strict=True)
    }


def _affected(status: str) -> int:
    """Rows a command touched, from asyncpg's status line ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class Sql:
    """The statements of one transaction: on PostgreSQL over its asyncpg connection, on
    SQLite over its session. `session` is set when the transaction is an ORM session's (for
    code that still needs one); `connection` only on PostgreSQL.

    A handle made by `Database.transact` on PostgreSQL (`unit`) saves round trips, each of
    which costs more than the statement it carries:
    - it sends no BEGIN until a statement needs the transaction (a locking read, a write
      that must go out now, the connection handed to other code); reads before that see
      committed data exactly as they would inside (READ COMMITTED);
    - `defer` keeps writes whose result nobody reads and sends them together, as one
      statement, before the next read or at the end; writes at the end of a unit that never
      began go out as that one statement alone, which is atomic by itself.
    Deferred writes must touch different rows (one statement cannot change a row twice).
    """

    __slots__ = ("_began", "_pending", "_unit", "connection", "session")

    def __init__(
        self, *, session: AsyncSession | None = None, connection: Any = None, unit: bool = False
    ) -> None:
        if session is None and connection is None:
            raise TypeError("Sql needs a session or an asyncpg connection")
        self.session = session
        self.connection = connection
        self._unit = unit and connection is not None and session is None
        self._began: Any = None
        self._pending: list[tuple[_Plan, list[Any]]] = []

    @classmethod
    async def of(cls, session: AsyncSession) -> Sql:
        """The fast handle on an ORM session's transaction (its asyncpg connection on
        PostgreSQL)."""
        if session.get_bind().dialect.name == "postgresql":
            from payhub.db.pg import session_connection

            return cls(session=session, connection=await session_connection(session))
        return cls(session=session)

    @property
    def is_postgres(self) -> bool:
        return self.connection is not None

    # -- the transaction of a unit ---------------------------------------------------------

    async def begin(self) -> None:
        """Open the unit's transaction now (no-op elsewhere, or when already open)."""
        if self._unit and self._began is None:
            self._began = self.connection.transaction()
            await self._began.start()

    async def raw(self) -> Any:
        """The asyncpg connection, inside the transaction, for code that talks to it
        directly (the ledger's store). Deferred writes stay deferred: such code must not
        read rows this unit wrote (the ledger reads only its own tables)."""
        await self.begin()
        return self.connection

    async def flush(self, *, begin: bool = True) -> None:
        """Send the deferred writes (in the transaction, opened first unless `begin` is
        False: then the writes go as one statement standing alone)."""
        if not self._pending:
            if begin:
                await self.begin()
            return
        if begin:
            await self.begin()
        pending, self._pending = self._pending, []
        sql, args = _together(pending)
        await self.connection.execute(sql, *args)

    async def finish(self) -> None:
        """End the unit: send what is deferred and commit."""
        if self._began is None:
            await self.flush(begin=False)
            return
        await self.flush()
        await self._began.commit()

    async def abandon(self) -> None:
        """End the unit without its changes."""
        self._pending = []
        if self._began is not None:
            await self._began.rollback()

    async def _ready(self, plan: _Plan) -> None:
        if self._unit and (self._pending or not plan.plain_read):
            await self.flush()

    # -- statements --------------------------------------------------------------------------

    async def all(self, statement: Executable, /, **params: Any) -> list[Row]:
        if self.connection is not None:
            plan = _plan(statement)
            await self._ready(plan)
            records = await self.connection.fetch(plan.sql, *_arguments(plan, params))
            return [_row(plan, r) for r in records]
        assert self.session is not None
        result = await self.session.execute(statement, params)
        return [dict(r._mapping) for r in result]

    async def all_once(self, statement: Executable, /, **params: Any) -> list[Row]:
        """`all` for a statement built for this call only (filters, pages): planned each
        time and never kept, so the plans stay few."""
        if self.connection is not None:
            plan = _plan(statement, keep=False)
            await self._ready(plan)
            records = await self.connection.fetch(plan.sql, *_arguments(plan, params))
            return [_row(plan, r) for r in records]
        return await self.all(statement, **params)

    async def one(self, statement: Executable, /, **params: Any) -> Row | None:
        """The first row, or None."""
        if self.connection is not None:
            plan = _plan(statement)
            await self._ready(plan)
            record = await self.connection.fetchrow(plan.sql, *_arguments(plan, params))
            return None if record is None else _row(plan, record)
        assert self.session is not None
        found = (await self.session.execute(statement, params)).first()
        return None if found is None else dict(found._mapping)

    async def value(self, statement: Executable, /, **params: Any) -> Any:
        """The first column of the first row, or None."""
        row = await self.one(statement, **params)
        return None if row is None else next(iter(row.values()))

    async def run(self, statement: Executable, /, **params: Any) -> int:
        """Run a statement that returns no rows, now; how many rows it touched."""
        if self.connection is not None:
            plan = _plan(statement)
            await self.flush()
            status = await self.connection.execute(plan.sql, *_arguments(plan, params))
            return _affected(status)
        assert self.session is not None
        result: Any = await self.session.execute(statement, params)
        return int(result.rowcount)

    async def defer(self, statement: Executable, /, **params: Any) -> None:
        """A write whose result nobody reads: in a unit it goes out with the others before
        the next read, or at the end; elsewhere at once."""
        if not self._unit:
            await self.run(statement, **params)
            return
        plan = _plan(statement)
        if plan.columns or plan.table is None:
            raise TypeError("a deferred write is an INSERT, UPDATE or DELETE returning no rows")
        if plan.changes_rows and any(p.table == plan.table for p, _ in self._pending):
            # Writes sent together share one snapshot: an UPDATE would not see a row a
            # sibling wrote. Send those first.
            await self.flush()
        self._pending.append((plan, _arguments(plan, params)))

    async def run_many(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        """Run a statement once per row of parameters (inserting several rows)."""
        if not rows:
            return
        if self.connection is not None:
            plan = _plan(statement)
            await self.flush()
            await self.connection.executemany(plan.sql, [_arguments(plan, r) for r in rows])
            return
        assert self.session is not None
        await self.session.execute(statement, rows)


_PARAMETER = re.compile(r"\$(\d+)")
_joined: dict[tuple[str, ...], str] = {}


def _together(pending: list[tuple[_Plan, list[Any]]]) -> tuple[str, list[Any]]:
    """Writes as one statement: all but the last as data-modifying WITH clauses (run once,
    to completion, on one snapshot), their parameters renumbered in order."""
    if len(pending) == 1:
        return pending[0][0].sql, pending[0][1]
    values: list[Any] = []
    for _, plan_args in pending:
        values.extend(plan_args)
    key = tuple(plan.sql for plan, _ in pending)
    joined = _joined.get(key)
    if joined is None:
        parts: list[str] = []
        offset = 0
        for plan, plan_args in pending:
            parts.append(_renumbered(plan.sql, offset))
            offset += len(plan_args)
        clauses = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts[:-1]))
        joined = f"WITH {clauses} {parts[-1]}"
        if len(_joined) < 1000:
            _joined[key] = joined
    return joined, values


def _renumbered(sql: str, offset: int) -> str:
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


async def as_sql(tx: AsyncSession | Sql) -> Sql:
    """Accept either handle: services written against `Sql` also serve session callers."""
    return tx if isinstance(tx, Sql) else await Sql.of(tx)


Work = Callable[[Sql], Awaitable[T]]


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, for Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def columns_of(obj: Any) -> Row:
    """An ORM object as the row `Sql` would return for it (keys are column names, so
    `metadata_` reads as `metadata`): one view function serves both kinds of caller."""
    mapper = sa_inspect(obj).mapper
    return {
        column.name: getattr(obj, attr.key)
        for attr in mapper.column_attrs
        for column in attr.columns
    }
