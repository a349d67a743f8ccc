"""Sending webhook deliveries: lease, POST signed, log, retry with backoff for 24 hours.

A worker leases due deliveries in a short transaction (SKIP LOCKED, so two workers never
take the same one), sends them outside any transaction, then records each outcome. A
worker that dies mid-send leaves a lease that simply runs out; the delivery is sent again
(receivers deduplicate by event id, which every payload carries).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.clock import to_rfc3339
from payhub.core.config import get_settings
from payhub.core.ids import new_id
from payhub.db.session import Database
from payhub.events import signing
from payhub.events.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from payhub.events.service import signing_secrets

LEASE = timedelta(seconds=60)
GIVE_UP_AFTER = timedelta(hours=24)
FIRST_RETRY = timedelta(seconds=10)
LONGEST_WAIT = timedelta(hours=1)
TIMEOUT_SECONDS = 10.0
PARALLEL = 16


@dataclass(frozen=True, slots=True)
class Outgoing:
    delivery_id: str
    url: str
    # The endpoint's valid signing secrets when leased (two during a roll's overlap).
    secrets: tuple[str, ...] = field(repr=False)
    body: bytes = field(repr=False)


def payload(event: Event) -> bytes:
    """What an endpoint receives: the event, as `GET /v1/events/{id}` shows it."""
    return orjson.dumps(
        {
            "id": event.id,
            "object": "event",
            "type": event.type,
            "created_at": to_rfc3339(event.created_at),
            "merchant": event.merchant_id,
            "data": event.data,
        }
    )


def backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … doubling, at most an hour between tries."""
    wait: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(wait, LONGEST_WAIT)


async def _lease(session: AsyncSession, limit: int) -> list[Outgoing]:
    now = clock.now()
    rows = (
        await session.execute(
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(
                    WebhookDelivery.leased_until.is_(None),
                    WebhookDelivery.leased_until < now,
                ),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
    ).all()
    out = []
    for delivery, endpoint, event in rows:
        delivery.leased_until = now + LEASE
        out.append(
            Outgoing(
                delivery.id,
                endpoint.url,
                tuple(signing_secrets(endpoint, now)),
                payload(event),
            )
        )
    await session.flush()
    return out


async def _send(client: httpx.AsyncClient, item: Outgoing) -> dict[str, Any]:
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PayHub-Webhooks/1",
        signing.HEADER: signing.sign_all(
            item.secrets, timestamp, item.body, suite=get_settings().crypto_suite
        ),
    }
    started = time.perf_counter()
    try:
        response = await client.post(item.url, content=item.body, headers=headers)
        return {
            "status_code": response.status_code,
            "error": None if response.is_success else f"HTTP {response.status_code}",
            "excerpt": response.text[:500],
            "duration_ms": int((time.perf_counter() - started) * 1000),
        }
    except httpx.HTTPError as exc:
        return {
            "status_code": None,
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "excerpt": None,
            "duration_ms": int((time.perf_counter() - started) * 1000),
        }


async def _record(session: AsyncSession, item: Outgoing, result: dict[str, Any]) -> None:
    delivery = await session.get(WebhookDelivery, item.delivery_id)
    if delivery is None or delivery.status != "pending":
        return
    now = clock.now()
    session.add(
        WebhookAttempt(
            id=new_id("wha"),
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=result["status_code"],
            error=result["error"],
            duration_ms=result["duration_ms"],
            response_excerpt=result["excerpt"],
        )
    )
    delivery.attempts += 1
    delivery.leased_until = None
    delivery.last_status_code = result["status_code"]
    delivery.last_error = result["error"]
    if result["error"] is None:
        delivery.status, delivery.finished_at = "succeeded", now
    elif now - delivery.created_at >= GIVE_UP_AFTER:
        delivery.status, delivery.finished_at = "failed", now
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    await session.flush()


async def deliver_due(
    db: Database, *, client: httpx.AsyncClient | None = None, limit: int = 100
) -> int:
    """Send every due delivery once; returns how many were tried."""
    batch = await db.run_in_transaction(lambda s: _lease(s, limit))
    if not batch:
        return 0
    own = client is None
    http = client or httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(item: Outgoing) -> None:
        async with gate:
            result = await _send(http, item)
        await db.run_in_transaction(lambda s: _record(s, item, result))

    try:
        await asyncio.gather(*(one(item) for item in batch))
    finally:
        if own:
            await http.aclose()
    return len(batch)
