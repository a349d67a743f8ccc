"""Rate limits per API key and endpoint class: token buckets every API process shares.

A key has a bucket per class (`read` for GET, `write` for the rest) holding up to `burst`
tokens, refilled at `rate` tokens a second; a request takes one, and when none is left it
is refused (429, `rate_limited`) with the seconds until one is back (`Retry-After`). The
buckets live in the database — one atomic upsert per request — or in Redis when
`PAYHUB_REDIS_URL` is set (one script call), so every process draws on the same tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Boolean, Float, String, bindparam, text

from payhub.core.config import Settings
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql

READ, WRITE = "read", "write"


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens a second
    burst: float  # the most a bucket holds

    @property
    def off(self) -> bool:
        return self.rate <= 0


def limit_for(settings: Settings, bucket: str, per_key_rate: int | None) -> Limit:
    """The key's own rate when it has one (both classes), else the class's default."""
    rate = (
        float(per_key_rate)
        if per_key_rate is not None
        else float(
            settings.rate_limit_read_per_s if bucket == READ else settings.rate_limit_write_per_s
        )
    )
    return Limit(rate, max(1.0, rate * settings.rate_limit_burst_seconds))


def bucket_of(method: str) -> str:
    return READ if method in ("GET", "HEAD", "OPTIONS") else WRITE


class Limiter(Protocol):
    async def take(self, key_id: str, bucket: str, limit: Limit) -> float:
        """Take a token: 0 when granted, else the seconds until one is back."""
        ...


def _upsert(least: str) -> text:  # type: ignore[valid-type]
    """Refill by the time since the last request, take one token if there is one; say
    whether one was taken and what is left. (SET expressions all see the old row.)"""
    refill = f"{least}(:burst, rate_buckets.tokens + (:now - rate_buckets.stamp) * :rate)"
    # Built from constants only (the dialect's name for the smaller of two values).
    statement = (
        "INSERT INTO rate_buckets (key_id, bucket, tokens, stamp, allowed) "  # noqa: S608
        "VALUES (:key_id, :bucket, :burst - 1, :now, TRUE) "
        "ON CONFLICT (key_id, bucket) DO UPDATE SET "
        f"allowed = {refill} >= 1, "
        f"tokens = CASE WHEN {refill} >= 1 THEN {refill} - 1 ELSE {refill} END, "
        "stamp = :now "
        "RETURNING allowed, tokens"
    )
    # Typed parameters: left to infer them, PostgreSQL takes `:burst - 1` for an integer.
    typed = [bindparam(name, type_=Float()) for name in ("rate", "burst", "now")]
    keys = [bindparam(name, type_=String()) for name in ("key_id", "bucket")]
    return text(statement).bindparams(*typed, *keys).columns(allowed=Boolean(), tokens=Float())


_TAKE = {"postgresql": _upsert("LEAST"), "sqlite": _upsert("MIN")}


class DatabaseLimiter:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def take(self, key_id: str, bucket: str, limit: Limit) -> float:
        async def draw(sql: Sql) -> tuple[bool, float]:
            row = await sql.one(
                _TAKE["postgresql" if sql.is_postgres else "sqlite"],
                key_id=key_id,
                bucket=bucket,
                rate=limit.rate,
                burst=limit.burst,
                now=self.clock(),
            )
            assert row is not None
            return bool(row["allowed"]), float(row["tokens"])

        allowed, tokens = await self.db.autocommit(draw)
        return 0.0 if allowed else (1.0 - tokens) / limit.rate


# Redis: the same bucket as a hash, updated atomically by a script.
_REDIS_TAKE = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(held[1]), tonumber(held[2])
if tokens == nil then tokens, stamp = burst, now end
tokens = math.min(burst, tokens + (now - stamp) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, tostring(tokens)}
"""


class RedisLimiter:
    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        from redis import asyncio as redis_asyncio

        self.redis = redis_asyncio.from_url(url)
        self.script = self.redis.register_script(_REDIS_TAKE)
        self.clock = clock

    async def take(self, key_id: str, bucket: str, limit: Limit) -> float:
        allowed, tokens = await self.script(
            keys=[f"payhub:rate:{key_id}:{bucket}"], args=[self.clock(), limit.rate, limit.burst]
        )
        return 0.0 if int(allowed) else (1.0 - float(tokens)) / limit.rate


async def enforce(limiter: Limiter, key_id: str, bucket: str, limit: Limit) -> None:
    if limit.off:
        return
    wait = await limiter.take(key_id, bucket, limit)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise PayHubError(
            "rate_limited",
            headers={"Retry-After": str(seconds)},
            bucket=bucket,
            retry_after=seconds,
        )
