"""Writing, sealing, reading and verifying the audit log.

`record` adds an event in the caller's transaction (on a `Sql` unit, with the unit's other
writes: no extra round trip), unsealed. `seal` (a periodic job, one sealer at a time) links
unsealed events into the chain: event n stores the hash of event n−1 and its own hash over
its content and that link, so changing, removing or reordering any sealed event breaks
every hash after it. `verify` walks the chain from the start and reports the first break.

Who acted comes from the context the API or the CLI set (`acting_as`), unless given.
Details must never hold a secret, a card number or a security code.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit.models import AuditChainHead, AuditEvent
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.logging import request_id_var
from payhub.db.sql import Row, Sql, as_sql, table_of

GENESIS = "0" * 64
SEAL_BATCH = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API key (with its role), the command line, a job, a channel adapter."""

    name: str
    role: str | None = None
    source: str | None = None

    @classmethod
    def key(cls, key_id: str, role: str, source: str | None) -> Actor:
        return cls(f"key:{key_id}", role, source)


SYSTEM = Actor("system")


def cli_actor() -> Actor:
    """The command line, as this machine's user on this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"cli:{user}", "operator", f"cli@{socket.gethostname()}")


_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)
# Whether the current request wrote an audit event of its own (the API then skips its
# generic record of an operator's write).
_recorded: ContextVar[bool] = ContextVar("audit_recorded", default=False)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    return _actor.get() or SYSTEM


def set_actor(actor: Actor) -> None:
    """Set the actor for the rest of the current task (an API request)."""
    _actor.set(actor)
    _recorded.set(False)


def recorded_in_this_request() -> bool:
    return _recorded.get()


@dataclass(frozen=True, slots=True)
class AuditView:
    id: str
    occurred_at: datetime
    actor: str
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    source: str | None
    request_id: str | None
    details: dict[str, Any]
    chain_index: int | None
    prev_hash: str | None
    hash: str | None

    @classmethod
    def of(cls, row: Row) -> AuditView:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


_EVENTS = table_of(AuditEvent)
_HEAD = table_of(AuditChainHead)
_INSERT = insert(_EVENTS)


async def record(
    tx: AsyncSession | Sql,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    actor: Actor | None = None,
    incidental: bool = False,
) -> str:
    """Add an event to the log in the caller's transaction; its id. `incidental`: a record
    made on the side of the request's own action (a channel adapter's use of a card while a
    payment is confirmed), which does not stand in for the API's record of that action."""
    who = actor or current_actor()
    event_id = new_id("aud")
    await (await as_sql(tx)).defer(
        _INSERT,
        id=event_id,
        occurred_at=clock.now(),
        actor=who.name[:80],
        actor_role=who.role,
        action=action[:120],
        target_type=target_type,
        target_id=target_id[:120] if target_id else None,
        source=who.source[:80] if who.source else None,
        request_id=request_id_var.get(),
        details=details or {},
        chain_index=None,
        prev_hash=None,
        hash=None,
    )
    if not incidental:
        _recorded.set(True)
    return event_id


# ---------------------------------------------------------------------------------- the chain


def _canonical(row: Row) -> bytes:
    """An event's content, byte for byte the same however it is read back."""
    content = {
        "id": row["id"],
        "occurred_at": clock.to_rfc3339(row["occurred_at"]),
        "actor": row["actor"],
        "actor_role": row["actor_role"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "source": row["source"],
        "request_id": row["request_id"],
        "details": row["details"],
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(row: Row, index: int, prev_hash: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{index}:{prev_hash}:".encode())
    digest.update(_canonical(row))
    return digest.hexdigest()


_HEAD_FOR_UPDATE = (
    select(_HEAD.c.last_index, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
)
_START_CHAIN = {
    "postgresql": pg_insert(_HEAD).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(_HEAD).on_conflict_do_nothing(),
}
_UNSEALED = (
    select(_EVENTS)
    .where(_EVENTS.c.hash.is_(None))
    .order_by(_EVENTS.c.occurred_at, _EVENTS.c.id)
    .limit(bindparam("limit"))
)
_SEAL = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"), _EVENTS.c.hash.is_(None))
    .values(
        chain_index=bindparam("chain_index"),
        prev_hash=bindparam("prev_hash"),
        hash=bindparam("hash"),
    )
)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(last_index=bindparam("last_index"), last_hash=bindparam("last_hash"))
)


async def seal(tx: AsyncSession | Sql, *, limit: int = SEAL_BATCH) -> int:
    """Link up to `limit` unsealed events into the chain; how many. The chain's head row is
    locked for the transaction, so sealers take turns."""
    sql = await as_sql(tx)
    head = await sql.one(_HEAD_FOR_UPDATE)
    if head is None:
        start = _START_CHAIN["postgresql" if sql.is_postgres else "sqlite"]
        await sql.run(start, id=1, last_index=0, last_hash=GENESIS)
        head = await sql.one(_HEAD_FOR_UPDATE)
        assert head is not None
    rows = await sql.all(_UNSEALED, limit=limit)
    if not rows:
        return 0
    index, prev = int(head["last_index"]), str(head["last_hash"])
    seals = []
    for row in rows:
        index += 1
        digest = chain_hash(row, index, prev)
        seals.append(
            {"event_id": row["id"], "chain_index": index, "prev_hash": prev, "hash": digest}
        )
        prev = digest
    await sql.run_many(_SEAL, seals)
    await sql.run(_MOVE_HEAD, last_index=index, last_hash=prev)
    return len(rows)


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of walking the chain: how many sealed events hold together, how many
    await sealing, and the first break (None when the chain is whole)."""

    verified: int
    unsealed: int
    broken_at: int | None = None
    broken_event: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


_CHAIN_PAGE = (
    select(_EVENTS)
    .where(_EVENTS.c.chain_index > bindparam("after"))
    .order_by(_EVENTS.c.chain_index)
    .limit(bindparam("limit"))
)
_COUNT_UNSEALED = select(func.count()).select_from(_EVENTS).where(_EVENTS.c.hash.is_(None))
_HEAD_NOW = select(_HEAD.c.last_index, _HEAD.c.last_hash).where(_HEAD.c.id == 1)


async def verify(tx: AsyncSession | Sql, *, page: int = 1000) -> Verification:
    """Recompute every sealed event's hash in chain order, from the genesis link."""
    sql = await as_sql(tx)
    expected_index, prev = 0, GENESIS
    while True:
        rows = await sql.all(_CHAIN_PAGE, after=expected_index, limit=page)
        for row in rows:
            expected_index += 1
            problem = _check(row, expected_index, prev)
            if problem is not None:
                unsealed = int(await sql.value(_COUNT_UNSEALED))
                return Verification(
                    expected_index - 1, unsealed, expected_index, row["id"], problem
                )
            prev = row["hash"]
        if len(rows) < page:
            break
    unsealed = int(await sql.value(_COUNT_UNSEALED))
    head = await sql.one(_HEAD_NOW)
    if head is not None and int(head["last_index"]) != expected_index:
        # Sealed events after the last one found were removed (or the head was moved).
        return Verification(
            expected_index, unsealed, expected_index + 1, None, "events missing from the end"
        )
    return Verification(expected_index, unsealed)


def _check(row: Row, index: int, prev: str) -> str | None:
    if row["chain_index"] != index:
        return f"event {index} is missing"
    if row["prev_hash"] != prev:
        return "the link to the previous event does not match"
    if row["hash"] != chain_hash(row, index, prev):
        return "the event's content does not match its hash"
    return None


# ------------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


async def list_events(
    tx: AsyncSession | Sql, filters: AuditFilter, *, limit: int, starting_after: str | None
) -> tuple[list[AuditView], bool]:
    """Newest first, a page of `limit` after the cursor; and whether more follow."""
    query = select(_EVENTS).order_by(_EVENTS.c.id.desc()).limit(limit + 1)
    if filters.actor is not None:
        query = query.where(_EVENTS.c.actor == filters.actor)
    if filters.action is not None:
        query = query.where(_EVENTS.c.action == filters.action)
    if filters.target_id is not None:
        query = query.where(_EVENTS.c.target_id == filters.target_id)
    if filters.occurred_from is not None:
        query = query.where(_EVENTS.c.occurred_at >= filters.occurred_from)
    if filters.occurred_to is not None:
        query = query.where(_EVENTS.c.occurred_at < filters.occurred_to)
    if starting_after is not None:
        query = query.where(_EVENTS.c.id < starting_after)
    rows = [AuditView.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit


_ONE = select(_EVENTS).where(_EVENTS.c.id == bindparam("id"))


async def get_event(tx: AsyncSession | Sql, event_id: str) -> AuditView:
    row = await (await as_sql(tx)).one(_ONE, id=event_id) if is_id(event_id, "aud") else None
    if row is None:
        raise PayHubError("audit_event_not_found", event=str(event_id)[:40])
    return AuditView.of(row)
