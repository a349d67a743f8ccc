"""Where signed requests' nonces are remembered, so every API process refuses a replay:
the database (default), or Redis when `PAYHUB_REDIS_URL` is set. A nonce is kept as long
as its request's timestamp could still be accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.auth.models import RequestNonce
from payhub.core import clock
from payhub.db.session import Database
from payhub.db.sql import Sql, table_of

_NONCES = table_of(RequestNonce)
_FIRST_USE = {
    "postgresql": pg_insert(_NONCES).on_conflict_do_nothing().returning(_NONCES.c.nonce),
    "sqlite": sqlite_insert(_NONCES).on_conflict_do_nothing().returning(_NONCES.c.nonce),
}
_EXPIRED = delete(_NONCES).where(_NONCES.c.expires_at <= bindparam("now"))


class NonceStore(Protocol):
    async def first_use(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        """True the first time (key, nonce) is seen; False for a replay."""
        ...


class DatabaseNonces:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_use(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        async def claim(sql: Sql) -> bool:
            statement = _FIRST_USE["postgresql" if sql.is_postgres else "sqlite"]
            found = await sql.one(statement, key_id=key_id, nonce=nonce, expires_at=expires_at)
            return found is not None

        return await self.db.autocommit(claim)


class RedisNonces:
    def __init__(self, url: str) -> None:
        from redis import asyncio as redis_asyncio

        self.redis = redis_asyncio.from_url(url)

    async def first_use(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        seconds = max(1, int((expires_at - clock.now()).total_seconds()) + 1)
        stored = await self.redis.set(f"payhub:nonce:{key_id}:{nonce}", b"1", nx=True, ex=seconds)
        return bool(stored)


async def purge_expired(session: AsyncSession) -> int:
    """Forget nonces whose requests could no longer be accepted anyway; how many."""
    result = await session.execute(_EXPIRED, {"now": clock.now()})
    return int(getattr(result, "rowcount", 0) or 0)
