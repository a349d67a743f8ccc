"""One engine per process, sessions per unit of work, and transactions that retry.

Services take an `AsyncSession`, flush but never commit; the edge (an HTTP request, a
CLI command, a job) owns the transaction and commits it once. `run_in_transaction`
retries the whole unit when the database reports a serialisation failure, a deadlock or
a locked SQLite file, and when a service raises `RetryTransaction`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payhub.core.config import Settings, get_settings
from payhub.core.errors import PayHubError
from payhub.db.engine import is_sqlite_url, make_engine
from payhub.db.sql import Sql

T = TypeVar("T")

# PostgreSQL SQLSTATEs that mean "run the same transaction again".
_RETRY_SQLSTATES = {"40001", "40P01"}


class RetryTransaction(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised by a service when what it read was overtaken by a concurrent writer."""


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._is_sqlite = is_sqlite_url(url)
        self._asyncpg_pool: Any = None
        # Held while the pool is made: a burst of first callers must share one pool, not
        # each make its own (the extra pools would never be closed).
        self._asyncpg_pool_made = asyncio.Lock()
        self._sqlite_writer = asyncio.Lock()
        self.engine: AsyncEngine = make_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def is_sqlite(self) -> bool:
        return self._is_sqlite

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends without an error.

        On SQLite, which has one writer, this process's transactions queue here, in order,
        instead of in SQLite's busy handler, which sleeps in growing steps and starves under
        load. (So never open a transaction while holding another: on SQLite it would wait
        for itself.)"""
        if self._is_sqlite:
            async with self._sqlite_writer, self.sessions() as session, session.begin():
                yield session
            return
        async with self.sessions() as session, session.begin():
            yield session

    async def run_in_transaction(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        attempts: int = 5,
    ) -> T:
        """Run `work` in a fresh transaction and commit; retry it on transient conflicts."""

        async def once() -> T:
            async with self.session() as session:
                return await work(session)

        return await retrying(once, attempts=attempts)

    async def transact(self, work: Callable[[Sql], Awaitable[T]], *, attempts: int = 5) -> T:
        """`run_in_transaction` for work written against `Sql`: on PostgreSQL a unit on a
        bare asyncpg connection from the pool (no ORM session at all; see `Sql` for how it
        saves round trips), on SQLite a session's transaction."""
        if self._is_sqlite:
            return await self.run_in_transaction(lambda s: work(Sql(session=s)), attempts=attempts)
        pool = await self.asyncpg_pool()

        async def once() -> T:
            async with pool.acquire() as connection:
                sql = Sql(connection=connection, unit=True)
                try:
                    result = await work(sql)
                    await sql.finish()
                except BaseException:
                    try:
                        await sql.abandon()
                    except Exception:
                        # The pool does not reset connections (see `_keep_session`): one
                        # whose transaction cannot be ended must not be handed out again.
                        connection.terminate()
                    raise
                return result

        return await retrying(once, attempts=attempts)

    async def autocommit(self, work: Callable[[Sql], Awaitable[T]]) -> T:
        """Work whose every statement stands alone (each commits by itself): one round trip
        per statement on PostgreSQL, with no BEGIN and COMMIT around them. Only for a
        single statement, or statements that need not commit together."""
        if self._is_sqlite:
            return await self.run_in_transaction(lambda s: work(Sql(session=s)))
        pool = await self.asyncpg_pool()

        async def once() -> T:
            async with pool.acquire() as connection:
                return await work(Sql(connection=connection))

        return await retrying(once)

    async def asyncpg_pool(self) -> Any:
        """A plain asyncpg pool on the same PostgreSQL database, made on first use, for the
        hot paths that skip the ORM (checking a connection out of it costs a third of
        SQLAlchemy's checkout)."""
        if self._asyncpg_pool is not None:
            return self._asyncpg_pool
        async with self._asyncpg_pool_made:
            if self._asyncpg_pool is not None:
                return self._asyncpg_pool
            import asyncpg

            url = make_url(self.url).set(drivername="postgresql")
            self._asyncpg_pool = await asyncpg.create_pool(
                url.render_as_string(hide_password=False),
                min_size=1,
                max_size=self.pool_size,
                reset=_keep_session,
                # PostgreSQL's own plan choice (`plan_cache_mode` auto): a statement prepared
                # while its tables were nearly empty would keep a forced generic plan, a
                # sequential scan, long after they grew.
                init=_json_codec,
            )
        return self._asyncpg_pool

    async def dispose(self) -> None:
        if self._asyncpg_pool is not None:
            await self._asyncpg_pool.close()
            self._asyncpg_pool = None
        await self.engine.dispose()


async def _json_codec(connection: Any) -> None:
    """Read json columns as Python values, as SQLAlchemy's own connections do; values are
    written as JSON text (the column types' bind conversions, or the caller, make it)."""
    await connection.set_type_codec(
        "json", schema="pg_catalog", encoder=str.encode, decoder=json.loads, format="binary"
    )


async def _keep_session(_connection: Any) -> None:
    """Our pooled asyncpg connections never change session state (no SET, LISTEN or advisory
    locks) and always close their transaction, so the default reset query on release would
    be a wasted round trip per transaction."""


async def retrying(attempt: Callable[[], Awaitable[T]], *, attempts: int = 5) -> T:
    """Call `attempt` until it succeeds, retrying transient database conflicts with jitter."""
    for number in range(1, attempts + 1):
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if number == attempts:
                raise PayHubError("concurrent_update") from exc
            # Jittered backoff so colliding writers do not collide again in lockstep.
            await asyncio.sleep(random.uniform(0, 0.005 * 2**number))  # noqa: S311
    raise AssertionError("unreachable")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error from any driver, if it has one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("sqlstate", "pgcode"):
            value = getattr(current, attr, None)
            if isinstance(value, str):
                return value
        current = getattr(current, "orig", None) or current.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RetryTransaction):
        return True
    # Raw asyncpg errors carry the SQLSTATE themselves; SQLAlchemy's wrap the driver's.
    if sqlstate(exc) in _RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


_database: Database | None = None


def get_database(settings: Settings | None = None) -> Database:
    """The process-wide database for the configured URL (created on first use)."""
    global _database
    settings = settings or get_settings()
    if _database is None or _database.url != settings.database_url:
        _database = Database(settings.database_url, pool_size=settings.database_pool_size)
    return _database


def set_database(database: Database | None) -> None:
    global _database
    _database = database
