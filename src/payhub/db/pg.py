"""Direct asyncpg access for the few hot paths where SQLAlchemy's per-statement cost matters
(ledger posting): inside a session's transaction (its own connection), or in a transaction
of its own on the database's asyncpg pool.

This leans on two private attributes of SQLAlchemy's asyncpg adapter (`_transaction`,
`_start_transaction`, `_connection`); SQLAlchemy is pinned below the next minor version
and the PostgreSQL test run exercises both paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.session import Database, retrying

T = TypeVar("T")


async def session_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside the session's transaction."""
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if adapted._transaction is None:
        # Same as SQLAlchemy does before its first statement: BEGIN now.
        await adapted._start_transaction()
    return adapted._connection


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[Any]:
    """A bare asyncpg transaction: commit on success, else roll back."""
    pool = await db.asyncpg_pool()
    async with pool.acquire() as connection, connection.transaction():
        yield connection


async def run_in_transaction(
    db: Database, work: Callable[[Any], Awaitable[T]], *, attempts: int = 5
) -> T:
    """`Database.run_in_transaction` for raw asyncpg work: retried on transient conflicts."""

    async def once() -> T:
        async with transaction(db) as connection:
            return await work(connection)

    return await retrying(once, attempts=attempts)
