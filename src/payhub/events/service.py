"""Emitting events (the outbox), webhook endpoints, and turning events into deliveries.

`emit` is called by a module in the same transaction as the state change it reports, so
an event exists exactly when its change committed. The dispatcher job later makes one
delivery per subscribed endpoint; the delivery worker (`payhub.events.delivery`) sends them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.db.sql import Sql, as_sql, table_of
from payhub.events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from payhub.vault import master

EVENT_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+)+")
URL = re.compile(r"https?://[^\s/$.?#][^\s]*")
# The master key's purpose that seals webhook secrets (migration 0017 seals with it too).
SEAL_PURPOSE = "webhook-secret"


@dataclass(frozen=True, slots=True)
class EventView:
    id: str
    type: str
    merchant_id: str | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: str
    merchant_id: str | None
    url: str
    events: list[str]
    enabled: bool
    description: str | None
    created_at: datetime
    # Until then deliveries are signed with the secret a roll replaced as well.
    previous_secret_expires_at: datetime | None = None
    secret: str | None = field(default=None, repr=False)  # only when just made or rolled


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: str
    endpoint_id: str
    event_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


def _event_view(row: Event) -> EventView:
    return EventView(row.id, row.type, row.merchant_id, dict(row.data), row.created_at)


def _endpoint_view(row: WebhookEndpoint, *, secret: str | None = None) -> EndpointView:
    overlap_ends = row.previous_secret_expires_at
    return EndpointView(
        id=row.id,
        merchant_id=row.merchant_id,
        url=row.url,
        events=list(row.events),
        enabled=row.enabled,
        description=row.description,
        created_at=row.created_at,
        previous_secret_expires_at=(
            overlap_ends if overlap_ends is not None and overlap_ends > clock.now() else None
        ),
        secret=secret,
    )


def seal_secret(endpoint_id: str, secret: str) -> bytes:
    """A webhook secret as stored: sealed under the master key, bound to its endpoint, so a
    blob copied onto another endpoint does not open."""
    return master.seal(SEAL_PURPOSE, endpoint_id, secret.encode())


def open_secret(endpoint_id: str, sealed: bytes) -> str:
    return master.open_sealed(SEAL_PURPOSE, endpoint_id, bytes(sealed)).decode()


def signing_secrets(row: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets a delivery sent at `now` is signed with: the current one first, then the
    one it replaced while the overlap lasts."""
    out = [open_secret(row.id, row.sealed_secret)]
    previous = row.sealed_previous_secret
    if previous is not None and _overlap_lasts(row, now):
        out.append(open_secret(row.id, previous))
    return out


def _overlap_lasts(row: WebhookEndpoint, now: datetime) -> bool:
    ends = row.previous_secret_expires_at
    return row.sealed_previous_secret is not None and ends is not None and now < ends


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


_INSERT_EVENT = insert(table_of(Event))


async def emit(
    tx: AsyncSession | Sql, *, type: str, merchant_id: str | None, data: dict[str, Any]
) -> EventView:
    """Record an event in the caller's transaction. `data` is the API object as its owner
    shows it (never card data: callers pass their public, masked representations)."""
    if not EVENT_TYPE.fullmatch(type):
        raise ValueError(f"bad event type {type!r}")
    view = EventView(new_id("evt"), type, merchant_id, data, clock.now())
    sql = await as_sql(tx)
    await sql.defer(
        _INSERT_EVENT,
        id=view.id,
        type=view.type,
        merchant_id=view.merchant_id,
        data=view.data,
        created_at=view.created_at,
        dispatched_at=None,
    )
    return view


async def emit_many(
    tx: AsyncSession | Sql, events: list[tuple[str, str | None, dict[str, Any]]]
) -> list[EventView]:
    """`emit` for many events — (type, merchant, data) in order — in one round trip."""
    views = []
    for type, merchant_id, data in events:
        if not EVENT_TYPE.fullmatch(type):
            raise ValueError(f"bad event type {type!r}")
        views.append(EventView(new_id("evt"), type, merchant_id, data, clock.now()))
    sql = await as_sql(tx)
    await sql.run_many(
        _INSERT_EVENT,
        [
            {
                "id": v.id,
                "type": v.type,
                "merchant_id": v.merchant_id,
                "data": v.data,
                "created_at": v.created_at,
                "dispatched_at": None,
            }
            for v in views
        ],
    )
    return views


async def get_event(session: AsyncSession, event_id: str, *, merchant_id: str | None) -> EventView:
    row = await session.get(Event, event_id)
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("event_not_found", event=event_id)
    return _event_view(row)


async def list_events(
    session: AsyncSession,
    *,
    merchant_id: str | None,
    limit: int,
    starting_after: str | None = None,
    type: str | None = None,
) -> tuple[list[EventView], bool]:
    query = select(Event).order_by(Event.id.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(Event.merchant_id == merchant_id)
    if type is not None:
        query = query.where(Event.type == type)
    if starting_after is not None:
        query = query.where(Event.id < starting_after)
    rows = (await session.execute(query)).scalars().all()
    return [_event_view(r) for r in rows[:limit]], len(rows) > limit


def _check_endpoint(url: str, events: list[str]) -> None:
    if len(url) > 2000 or not URL.fullmatch(url):
        raise PayHubError("validation_error", param="url", detail="an http(s) URL")
    if not events:
        raise PayHubError("validation_error", param="events", detail="at least one event type")
    for name in events:
        if name != "*" and not EVENT_TYPE.fullmatch(name):
            raise PayHubError("validation_error", param="events", detail="event types or '*'")


async def create_endpoint(
    session: AsyncSession,
    *,
    merchant_id: str | None,
    url: str,
    events: list[str],
    description: str | None = None,
) -> EndpointView:
    """A merchant's endpoint receives that merchant's events; an operator endpoint
    (merchant_id None) receives every event."""
    _check_endpoint(url, events)
    endpoint_id, secret = new_id("we"), _new_secret()
    row = WebhookEndpoint(
        id=endpoint_id,
        merchant_id=merchant_id,
        url=url,
        events=sorted(set(events)),
        sealed_secret=seal_secret(endpoint_id, secret),
        sealed_previous_secret=None,
        previous_secret_expires_at=None,
        enabled=True,
        description=description,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    # A signing secret was issued: a key change, recorded (never the secret itself).
    await audit.record(
        session,
        "webhook_endpoint.created",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={"merchant": merchant_id, "events": row.events},
    )
    return _endpoint_view(row, secret=secret)


async def _endpoint_row(
    session: AsyncSession, endpoint_id: str, merchant_id: str | None, *, lock: bool = False
) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id, with_for_update=True if lock else None)
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("webhook_endpoint_not_found", endpoint=endpoint_id)
    return row


async def get_endpoint(
    session: AsyncSession, endpoint_id: str, *, merchant_id: str | None
) -> EndpointView:
    return _endpoint_view(await _endpoint_row(session, endpoint_id, merchant_id))


async def update_endpoint(
    session: AsyncSession,
    endpoint_id: str,
    *,
    merchant_id: str | None,
    url: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
) -> EndpointView:
    row = await _endpoint_row(session, endpoint_id, merchant_id)
    _check_endpoint(url or row.url, events if events is not None else list(row.events))
    if url is not None:
        row.url = url
    if events is not None:
        row.events = sorted(set(events))
    if enabled is not None:
        row.enabled = enabled
    await session.flush()
    return _endpoint_view(row)


DEFAULT_SECRET_OVERLAP = timedelta(hours=24)
MAX_SECRET_OVERLAP = timedelta(days=30)


async def roll_secret(
    session: AsyncSession,
    endpoint_id: str,
    *,
    merchant_id: str | None,
    overlap: timedelta = DEFAULT_SECRET_OVERLAP,
) -> EndpointView:
    """Give the endpoint a new signing secret (in the returned view, once). Deliveries are
    signed with both until `overlap` ends, then with the new one only; `overlap` zero drops
    the old secret at once (it leaked). Rolling again during an overlap drops the secret
    before the previous one at once: at most two are ever valid."""
    if not timedelta(0) <= overlap <= MAX_SECRET_OVERLAP:
        raise PayHubError("validation_error", param="overlap_seconds", detail="0 to 30 days")
    # Locked: two concurrent rolls must not both keep the same old secret as "previous".
    row = await _endpoint_row(session, endpoint_id, merchant_id, lock=True)
    now = clock.now()
    dropped = _overlap_lasts(row, now)
    # The sealed blob moves as it is: it is bound to the endpoint, not to its slot.
    if overlap > timedelta(0):
        row.sealed_previous_secret = row.sealed_secret
        row.previous_secret_expires_at = now + overlap
    else:
        row.sealed_previous_secret, row.previous_secret_expires_at = None, None
    secret = _new_secret()
    row.sealed_secret = seal_secret(row.id, secret)
    await session.flush()
    await audit.record(
        session,
        "webhook_endpoint.secret_rolled",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={
            "merchant": row.merchant_id,
            "overlap_seconds": int(overlap.total_seconds()),
            "previous_secret_expires_at": (
                clock.to_rfc3339(row.previous_secret_expires_at)
                if row.previous_secret_expires_at is not None
                else None
            ),
            # An older secret still in its overlap stopped signing at once.
            "earlier_secret_dropped": dropped,
        },
    )
    return _endpoint_view(row, secret=secret)


async def list_endpoints(session: AsyncSession, *, merchant_id: str | None) -> list[EndpointView]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())
    if merchant_id is not None:
        query = query.where(WebhookEndpoint.merchant_id == merchant_id)
    return [_endpoint_view(r) for r in (await session.execute(query)).scalars().all()]


async def list_deliveries(
    session: AsyncSession, endpoint_id: str, *, merchant_id: str | None, limit: int
) -> list[DeliveryView]:
    await _endpoint_row(session, endpoint_id, merchant_id)
    rows = (
        await session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    ).scalars()
    return [delivery_view(r) for r in rows]


async def attempts_of(session: AsyncSession, delivery_id: str) -> list[WebhookAttempt]:
    return list(
        (
            await session.execute(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.id)
            )
        ).scalars()
    )


def _subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return endpoint.enabled and ("*" in endpoint.events or event_type in endpoint.events)


_EVENTS = table_of(Event)
# The oldest undispatched events, claimed (SKIP LOCKED: several workers may dispatch at
# once) and marked dispatched in one statement; only what routing them needs comes back.
_CLAIM = (
    update(_EVENTS)
    .where(
        _EVENTS.c.id.in_(
            select(_EVENTS.c.id)
            .where(_EVENTS.c.dispatched_at.is_(None))
            .order_by(_EVENTS.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(dispatched_at=bindparam("now"))
    .returning(_EVENTS.c.id, _EVENTS.c.type, _EVENTS.c.merchant_id)
)


async def dispatch(tx: AsyncSession | Sql, *, limit: int = 200) -> int:
    """Turn undelivered events into one delivery per subscribed endpoint. Several workers
    may run it at once: events are claimed with SKIP LOCKED. The events' payloads are not
    read here (the sender reads each when it sends)."""
    sql = await as_sql(tx)
    now = clock.now()
    claimed = await sql.all(_CLAIM, limit=limit, now=now)
    if not claimed:
        return 0
    assert sql.session is not None, "dispatch runs in an ORM session"
    owners = sorted({e["merchant_id"] for e in claimed if e["merchant_id"] is not None})
    endpoints = list(
        (
            await sql.session.execute(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.enabled.is_(True),
                    or_(
                        WebhookEndpoint.merchant_id.is_(None),
                        WebhookEndpoint.merchant_id.in_(owners),
                    ),
                )
            )
        ).scalars()
    )
    for event in sorted(claimed, key=lambda e: str(e["id"])):
        for endpoint in endpoints:
            owner_matches = (
                endpoint.merchant_id is None or endpoint.merchant_id == event["merchant_id"]
            )
            if owner_matches and _subscribed(endpoint, event["type"]):
                sql.session.add(_new_delivery(endpoint.id, event["id"], now))
    await sql.session.flush()
    return len(claimed)


def _new_delivery(endpoint_id: str, event_id: str, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        id=new_id("whd"),
        endpoint_id=endpoint_id,
        event_id=event_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        leased_until=None,
        last_status_code=None,
        last_error=None,
        created_at=now,
        finished_at=None,
    )


async def redeliver(
    session: AsyncSession, event_id: str, *, merchant_id: str | None
) -> list[DeliveryView]:
    """Manual replay: a fresh delivery of the event to every endpoint subscribed to it now."""
    row = await session.get(Event, event_id)
    if row is None or (merchant_id is not None and row.merchant_id != merchant_id):
        raise PayHubError("event_not_found", event=event_id)
    endpoints = (
        await session.execute(
            select(WebhookEndpoint).where(
                or_(
                    WebhookEndpoint.merchant_id.is_(None),
                    WebhookEndpoint.merchant_id == row.merchant_id,
                )
            )
        )
    ).scalars()
    now = clock.now()
    made = [_new_delivery(e.id, row.id, now) for e in endpoints if _subscribed(e, row.type)]
    session.add_all(made)
    await session.flush()
    return [delivery_view(d) for d in made]
