"""Events become signed webhook deliveries to real HTTP endpoints, retried until they land."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import func, select

from payhub.core import clock
from payhub.core.clock import FrozenClock, use_clock
from payhub.core.config import reset_settings_cache
from payhub.core.cryptosuite import Suite
from payhub.db.session import Database
from payhub.events import service as events
from payhub.events import signing
from payhub.events.delivery import deliver_due
from payhub.events.models import WebhookAttempt, WebhookDelivery
from payhub.events.tasks import dispatch_events
from tests.events.receiver import Receiver, running_receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def endpoint(db: Database, url: str, *, merchant: str | None = None, kinds=("*",)):
    return await db.run_in_transaction(
        lambda s: events.create_endpoint(s, merchant_id=merchant, url=url, events=list(kinds))
    )


async def emit(db: Database, type: str = "payment.succeeded", merchant: str | None = "mer_a"):
    return await db.run_in_transaction(
        lambda s: events.emit(
            s, type=type, merchant_id=merchant, data={"object": {"id": "pay_1", "amount": 1999}}
        )
    )


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.session() as s:
        return list((await s.execute(select(WebhookDelivery))).scalars())


async def test_event_is_delivered_signed(db: Database, receiver: Receiver) -> None:
    hook = await endpoint(db, receiver.url)
    assert hook.secret and hook.secret.startswith("whsec_")
    event = await emit(db)
    assert await dispatch_events(db) == 1
    assert await deliver_due(db) == 1

    (got,) = receiver.received
    signature = got.headers["payhub-signature"]
    now = int(clock.now().timestamp())
    assert signing.verify(hook.secret, signature, got.body, now=now)
    assert not signing.verify(hook.secret, signature, got.body + b" ", now=now)
    assert not signing.verify("whsec_other", signature, got.body, now=now)
    assert not signing.verify(hook.secret, signature, got.body, now=now + 301)
    body = json.loads(got.body)
    assert body["id"] == event.id and body["type"] == "payment.succeeded"
    assert body["object"] == "event" and body["created_at"].endswith("Z")
    assert body["data"] == {"object": {"id": "pay_1", "amount": 1999}}

    (delivery,) = await deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    # Nothing more to send.
    assert await deliver_due(db) == 0
    assert len(receiver.received) == 1


async def test_failures_are_retried_with_backoff_then_given_up(
    db: Database, receiver: Receiver
) -> None:
    frozen = FrozenClock(clock.now())
    with use_clock(frozen):
        await endpoint(db, receiver.url)
        await emit(db)
        await dispatch_events(db)
        receiver.answers = [500, 503]
        assert await deliver_due(db) == 1
        (delivery,) = await deliveries(db)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "pending",
            1,
            500,
        )
        assert delivery.next_attempt_at == frozen.now() + timedelta(seconds=10)
        assert await deliver_due(db) == 0  # not due yet
        frozen.advance(timedelta(seconds=10))
        assert await deliver_due(db) == 1
        (delivery,) = await deliveries(db)
        assert delivery.next_attempt_at == frozen.now() + timedelta(seconds=20)
        frozen.advance(timedelta(seconds=20))
        assert await deliver_due(db) == 1
        (delivery,) = await deliveries(db)
        assert (delivery.status, delivery.attempts) == ("succeeded", 3)
        async with db.session() as s:
            logged = (await s.execute(select(WebhookAttempt.status_code))).scalars().all()
        assert sorted(logged) == [200, 500, 503]

        # An endpoint that never answers well is given up on after 24 hours.
        await emit(db, type="refund.succeeded")
        await dispatch_events(db)
        receiver.answers = [500] * 100
        for _ in range(40):
            await deliver_due(db)
            frozen.advance(timedelta(hours=1))
        statuses = sorted(d.status for d in await deliveries(db))
        assert statuses == ["failed", "succeeded"]


async def test_an_unreachable_endpoint_is_logged(db: Database) -> None:
    await endpoint(db, "http://127.0.0.1:9/nothing-listens-here")
    await emit(db)
    await dispatch_events(db)
    assert await deliver_due(db) == 1
    (delivery,) = await deliveries(db)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error and "Connect" in delivery.last_error


async def test_subscriptions_and_owners(db: Database, receiver: Receiver) -> None:
    await endpoint(db, receiver.url + "?who=a", merchant="mer_a", kinds=("payment.succeeded",))
    await endpoint(db, receiver.url + "?who=b", merchant="mer_b")
    await endpoint(db, receiver.url + "?who=operator")
    await emit(db, "payment.succeeded", "mer_a")
    await emit(db, "refund.succeeded", "mer_a")
    await emit(db, "payment.succeeded", "mer_b")
    await emit(db, "ledger.reconciled", None)
    assert await dispatch_events(db) == 4
    await deliver_due(db)
    async with db.session() as s:
        by_endpoint = dict(
            (
                await s.execute(
                    select(WebhookDelivery.endpoint_id, func.count()).group_by(
                        WebhookDelivery.endpoint_id
                    )
                )
            ).all()
        )
    endpoints = {e.url.rsplit("=", 1)[1]: e.id for e in await db.run_in_transaction(
        lambda s: events.list_endpoints(s, merchant_id=None)
    )}  # fmt: skip
    # a: its own payment only; b: its own event; the operator: all four.
    assert by_endpoint == {endpoints["a"]: 1, endpoints["b"]: 1, endpoints["operator"]: 4}
    assert len(receiver.received) == 6


async def test_disabled_endpoints_receive_nothing(db: Database, receiver: Receiver) -> None:
    hook = await endpoint(db, receiver.url)
    await db.run_in_transaction(
        lambda s: events.update_endpoint(s, hook.id, merchant_id=None, enabled=False)
    )
    await emit(db)
    await dispatch_events(db)
    assert await deliver_due(db) == 0
    assert receiver.received == []


async def test_two_workers_never_send_the_same_delivery(db: Database, receiver: Receiver) -> None:
    await endpoint(db, receiver.url)
    for _ in range(30):
        await emit(db)
    await asyncio.gather(dispatch_events(db), dispatch_events(db))
    assert len(await deliveries(db)) == 30
    tried = await asyncio.gather(deliver_due(db), deliver_due(db), deliver_due(db))
    assert sum(tried) == 30
    ids = [json.loads(r.body)["id"] for r in receiver.received]
    assert len(ids) == 30 and len(set(ids)) == 30


async def test_manual_redelivery(db: Database, receiver: Receiver) -> None:
    await endpoint(db, receiver.url)
    event = await emit(db)
    await dispatch_events(db)
    await deliver_due(db)
    made = await db.run_in_transaction(lambda s: events.redeliver(s, event.id, merchant_id=None))
    assert len(made) == 1 and made[0].status == "pending"
    await deliver_due(db)
    assert [json.loads(r.body)["id"] for r in receiver.received] == [event.id, event.id]
    with pytest.raises(Exception) as refused:
        await db.run_in_transaction(lambda s: events.redeliver(s, event.id, merchant_id="mer_b"))
    assert getattr(refused.value, "code", None) == "event_not_found"


async def test_webhook_api(client: httpx.AsyncClient, db: Database, receiver: Receiver) -> None:
    made = await client.post(
        "/v1/webhook_endpoints",
        json={"url": receiver.url, "events": ["payment.succeeded"]},
        headers={"Idempotency-Key": "hook-1"},
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["object"] == "webhook_endpoint" and hook["secret"].startswith("whsec_")
    replay = await client.post(
        "/v1/webhook_endpoints",
        json={"url": receiver.url, "events": ["payment.succeeded"]},
        headers={"Idempotency-Key": "hook-1"},
    )
    assert replay.json() == {**hook, "secret": None}
    shown = (await client.get(f"/v1/webhook_endpoints/{hook['id']}")).json()
    assert shown["secret"] is None and shown["url"] == receiver.url

    event = await emit(db)
    await dispatch_events(db)
    await deliver_due(db)
    listed = (await client.get("/v1/events")).json()
    assert [e["id"] for e in listed["data"]] == [event.id]
    assert (await client.get(f"/v1/events/{event.id}")).json()["type"] == "payment.succeeded"
    sent = (await client.get(f"/v1/webhook_endpoints/{hook['id']}/deliveries")).json()
    assert [(d["status"], d["attempts"]) for d in sent["data"]] == [("succeeded", 1)]
    again = await client.post(f"/v1/events/{event.id}/redeliver")
    assert again.status_code == 200 and len(again.json()["data"]) == 1

    changed = await client.post(f"/v1/webhook_endpoints/{hook['id']}", json={"enabled": False})
    assert changed.json()["enabled"] is False
    bad = await client.post("/v1/webhook_endpoints", json={"url": "ftp://x", "events": ["*"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "url"
    bad_type = await client.post(
        "/v1/webhook_endpoints", json={"url": receiver.url, "events": ["Payment Succeeded"]}
    )
    assert bad_type.json()["error"]["param"] == "events"
    missing = await client.get("/v1/webhook_endpoints/we_01M8900000000000000000000A")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "webhook_endpoint_not_found"


def _sm3_mac(secret: str, header: str, body: bytes) -> str:
    """Written here from the documented rule, not taken from the code under test."""
    stamp = header.split(",")[0].removeprefix("t=")
    signer = crypto_hmac.HMAC(secret.encode(), hashes.SM3())
    signer.update(stamp.encode() + b"." + body)
    return signer.finalize().hex()


@pytest.mark.parametrize("suite", list(Suite))
async def test_the_gm_suite_adds_an_sm3_signature_v1_receivers_ignore(
    db: Database, receiver: Receiver, suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYHUB_CRYPTO_SUITE", suite.value)
    reset_settings_cache()
    try:
        hook = await endpoint(db, receiver.url)
        assert hook.secret
        await emit(db)
        await dispatch_events(db)
        assert await deliver_due(db) == 1
    finally:
        monkeypatch.undo()
        reset_settings_cache()

    (got,) = receiver.received
    header = got.headers["payhub-signature"]
    now = int(clock.now().timestamp())
    schemes = [part.split("=", 1)[0] for part in header.split(",")]
    # A v1 receiver accepts the delivery under either suite.
    assert signing.verify(hook.secret, header, got.body, now=now)
    if suite is Suite.GM:
        assert schemes == ["t", "v1", "v2"]
        assert header.split(",")[2] == "v2=" + _sm3_mac(hook.secret, header, got.body)
        assert signing.verify(hook.secret, header, got.body, now=now, scheme="v2")
        assert not signing.verify("whsec_other", header, got.body, now=now, scheme="v2")
    else:
        assert schemes == ["t", "v1"]
        assert not signing.verify(hook.secret, header, got.body, now=now, scheme="v2")
