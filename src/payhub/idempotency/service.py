"""Claiming, completing and replaying idempotency keys.

A POST with an `Idempotency-Key` first claims the key in its own short transaction. The
request's work then runs, and the stored response is written in the same transaction as
the work, so "the work happened" and "the key is completed" are never separated. A
second request with the key sees the stored response (a replay), a different request
body (refused), or an execution still in flight (it waits for it). A claim whose
execution died without committing is taken over after a lease.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql, as_sql, table_of
from payhub.idempotency.models import IdempotencyKey

# An execution that has held a key this long without finishing is presumed dead; since its
# transaction never committed, running the request again cannot do the work twice.
LEASE = timedelta(seconds=60)
WAIT_FOR_IN_FLIGHT = 10.0
POLL = 0.05


@dataclass(frozen=True, slots=True)
class Claim:
    principal: str
    key: str
    locked_at: datetime


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: bytes


def request_fingerprint(method: str, path: str, body: bytes, *, key: bytes) -> str:
    """Same method, path and JSON content → same fingerprint, whatever the whitespace.

    Keyed (HMAC with the server's secret), because a body may hold a card number: a plain
    hash of a card number can be reversed by trying the few billion numbers a BIN allows."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        content = canonical.encode()
    except (ValueError, UnicodeDecodeError):
        content = body
    message = method.encode() + b" " + path.encode() + b"\n" + content
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise PayHubError("idempotency_key_invalid", param="Idempotency-Key")
    return key


async def claim(
    db: Database,
    *,
    principal: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    ttl: timedelta,
) -> Claim | Replay:
    # The usual case, a key never seen: one statement, committed on its own.
    now = clock.now()
    values = _claim_values(principal, key, method, path, fingerprint, ttl, now)
    if await db.autocommit(lambda sql: sql.one(_insert_claim(sql), **values)) is not None:
        return Claim(principal, key, now)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_IN_FLIGHT
    while True:
        outcome = await db.run_in_transaction(
            lambda s: _try_claim(s, principal, key, method, path, fingerprint, ttl)
        )
        if outcome is not None:
            return outcome
        if loop.time() >= deadline:
            raise PayHubError("idempotency_key_in_use")
        await asyncio.sleep(POLL)


_TABLE = table_of(IdempotencyKey)
# A new key's claim; nothing (no row returned) when the key is already there.
_CLAIM_ON = {
    "postgresql": pg_insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.key),
    "sqlite": sqlite_insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.key),
}


def _insert_claim(sql: Sql) -> Any:
    return _CLAIM_ON["postgresql" if sql.is_postgres else "sqlite"]


def _claim_values(
    principal: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    ttl: timedelta,
    now: datetime,
) -> dict[str, Any]:
    return {
        "principal": principal,
        "key": key,
        "method": method,
        "path": path,
        "request_hash": fingerprint,
        "status": "in_progress",
        "locked_at": now,
        "created_at": now,
        "expires_at": now + ttl,
        "response_status": None,
        "response_body": None,
    }


async def _try_claim(
    session: AsyncSession,
    principal: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    ttl: timedelta,
) -> Claim | Replay | None:
    """A claim, a replay, or None when another execution holds the key right now."""
    now = clock.now()
    values = _claim_values(principal, key, method, path, fingerprint, ttl, now)
    sql = await as_sql(session)
    if await sql.one(_insert_claim(sql), **values) is not None:
        return Claim(principal, key, now)
    row = (
        await session.execute(
            select(IdempotencyKey)
            .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
            .with_for_update()
        )
    ).scalar_one()
    if row.expires_at <= now:
        # The old use has aged out: the key is free again.
        for name, value in values.items():
            setattr(row, name, value)
        row.response_status, row.response_body = None, None
        await session.flush()
        return Claim(principal, key, now)
    if row.request_hash != fingerprint:
        raise PayHubError("idempotency_key_reused", param="Idempotency-Key")
    if row.status == "completed":
        assert row.response_status is not None and row.response_body is not None
        return Replay(row.response_status, row.response_body.encode())
    if now - row.locked_at >= LEASE:
        row.locked_at = now
        await session.flush()
        return Claim(principal, key, now)
    return None


_COMPLETE = (
    update(_TABLE)
    .where(
        _TABLE.c.principal == bindparam("claim_principal"),
        _TABLE.c.key == bindparam("claim_key"),
        _TABLE.c.locked_at == bindparam("claim_locked_at"),
    )
    .values(
        status="completed",
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body"),
    )
)


async def complete(tx: AsyncSession | Sql, claim: Claim, status: int, body: bytes) -> None:
    """Store the response in the caller's transaction (the one that did the work)."""
    await (await as_sql(tx)).defer(
        _COMPLETE,
        claim_principal=claim.principal,
        claim_key=claim.key,
        claim_locked_at=claim.locked_at,
        response_status=status,
        response_body=body.decode(),
    )


async def finish_with_error(db: Database, claim: Claim, status: int, body: bytes) -> None:
    """A final refusal is stored like a success, so the replay refuses the same way."""

    async def store(session: AsyncSession) -> None:
        await complete(session, claim, status, body)

    await db.run_in_transaction(store)


async def release(db: Database, claim: Claim) -> None:
    """Forget the claim (the attempt failed in a way worth retrying)."""

    async def drop(session: AsyncSession) -> None:
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.principal == claim.principal,
                IdempotencyKey.key == claim.key,
                IdempotencyKey.locked_at == claim.locked_at,
            )
        )

    await db.run_in_transaction(drop)


async def purge_expired(session: AsyncSession) -> int:
    """Delete completed keys past their retention in one statement (run by the job runner);
    returns how many went."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.expires_at <= clock.now(), IdempotencyKey.status == "completed")
        .returning(IdempotencyKey.key)
    )
    return len(result.all())
