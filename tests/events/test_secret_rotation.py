"""Rolling a webhook endpoint's signing secret: two signatures during the overlap, one after."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from payhub.audit.models import AuditEvent
from payhub.core import clock
from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.events import service as events
from payhub.events import signing
from payhub.events.delivery import deliver_due
from payhub.events.models import WebhookEndpoint
from payhub.events.tasks import dispatch_events
from payhub.vault.crypto import VaultIntegrityError
from tests.events.receiver import Receiver, running_receiver
from tests.merchants.helpers import create_merchant, merchant_key


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def _deliver_one(db: Database, receiver: Receiver, merchant: str | None = None) -> str:
    """Emit an event, send it, and return the signature header the receiver got."""
    await db.run_in_transaction(
        lambda s: events.emit(
            s, type="payment.succeeded", merchant_id=merchant, data={"object": {"id": "pay_1"}}
        )
    )
    await dispatch_events(db)
    before = len(receiver.received)
    assert await deliver_due(db) == 1
    assert len(receiver.received) == before + 1
    return receiver.received[-1].headers["payhub-signature"]


def _v1s(header: str) -> list[str]:
    return [p.split("=", 1)[1] for p in header.split(",") if p.startswith("v1=")]


async def _audit_rows(db: Database, action: str) -> list[AuditEvent]:
    async with db.session() as s:
        found = await s.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(found.scalars())


async def test_both_secrets_sign_during_the_overlap_and_only_the_new_one_after(
    db: Database, receiver: Receiver
) -> None:
    frozen = FrozenClock(clock.now())
    with use_clock(frozen):
        made = await db.run_in_transaction(
            lambda s: events.create_endpoint(s, merchant_id=None, url=receiver.url, events=["*"])
        )
        old = made.secret
        assert old is not None
        rolled = await db.run_in_transaction(
            lambda s: events.roll_secret(s, made.id, merchant_id=None, overlap=timedelta(hours=1))
        )
        new = rolled.secret
        assert new is not None and new != old and new.startswith("whsec_")
        assert rolled.previous_secret_expires_at == frozen.now() + timedelta(hours=1)

        during = await _deliver_one(db, receiver)
        body = receiver.received[-1].body
        now = int(frozen.now().timestamp())
        assert len(_v1s(during)) == 2  # the new secret's first, then the old one's
        assert during == signing.sign_all([new, old], now, body)
        assert signing.verify(new, during, body, now=now)
        assert signing.verify(old, during, body, now=now)
        assert not signing.verify("whsec_someone_else", during, body, now=now)

        frozen.advance(timedelta(hours=1))  # the overlap is over
        after = await _deliver_one(db, receiver)
        body = receiver.received[-1].body
        now = int(frozen.now().timestamp())
        assert len(_v1s(after)) == 1
        assert signing.verify(new, after, body, now=now)
        assert not signing.verify(old, after, body, now=now)
        view = await db.run_in_transaction(
            lambda s: events.get_endpoint(s, made.id, merchant_id=None)
        )
        assert view.previous_secret_expires_at is None and view.secret is None


async def test_zero_overlap_drops_the_old_secret_at_once(db: Database, receiver: Receiver) -> None:
    made = await db.run_in_transaction(
        lambda s: events.create_endpoint(s, merchant_id=None, url=receiver.url, events=["*"])
    )
    rolled = await db.run_in_transaction(
        lambda s: events.roll_secret(s, made.id, merchant_id=None, overlap=timedelta(0))
    )
    assert rolled.previous_secret_expires_at is None
    got = await _deliver_one(db, receiver)
    body, now = receiver.received[-1].body, int(clock.now().timestamp())
    assert len(_v1s(got)) == 1
    assert signing.verify(rolled.secret or "", got, body, now=now)
    assert not signing.verify(made.secret or "", got, body, now=now)


async def test_rolling_again_during_an_overlap_keeps_two_secrets_at_most(
    db: Database, receiver: Receiver
) -> None:
    made = await db.run_in_transaction(
        lambda s: events.create_endpoint(s, merchant_id=None, url=receiver.url, events=["*"])
    )

    async def roll() -> str:
        view = await db.run_in_transaction(
            lambda s: events.roll_secret(s, made.id, merchant_id=None, overlap=timedelta(hours=2))
        )
        assert view.secret is not None
        return view.secret

    second = await roll()
    third = await roll()
    got = await _deliver_one(db, receiver)
    body, now = receiver.received[-1].body, int(clock.now().timestamp())
    assert len(_v1s(got)) == 2
    assert signing.verify(third, got, body, now=now)
    assert signing.verify(second, got, body, now=now)
    assert not signing.verify(made.secret or "", got, body, now=now)
    (first_roll, second_roll) = sorted(
        await _audit_rows(db, "webhook_endpoint.secret_rolled"), key=lambda r: r.id
    )
    assert first_roll.details["earlier_secret_dropped"] is False
    assert second_roll.details["earlier_secret_dropped"] is True


async def test_overlap_is_bounded(db: Database) -> None:
    made = await db.run_in_transaction(
        lambda s: events.create_endpoint(
            s, merchant_id=None, url="http://127.0.0.1:9/h", events=["*"]
        )
    )
    for bad in (timedelta(seconds=-1), timedelta(days=31)):
        with pytest.raises(Exception) as refused:
            await db.run_in_transaction(
                lambda s, bad=bad: events.roll_secret(s, made.id, merchant_id=None, overlap=bad)
            )
        assert getattr(refused.value, "code", None) == "validation_error"


def test_verify_is_robust_to_any_header() -> None:
    body, now = b'{"id": "evt_1"}', 1_800_000_000
    good = signing.sign("whsec_x", now, body)
    assert signing.verify("whsec_x", good, body, now=now)
    # A later scheme next to v1 does not disturb a receiver that only knows v1.
    assert signing.verify("whsec_x", good + ",v2=abc", body, now=now)
    for header in ("", "t=", "v1=", f"t={now}", f"t={now},v1=é", "t=x,v1=00", f"t={now},,=,"):
        assert not signing.verify("whsec_x", header, body, now=now), header
    with pytest.raises(ValueError):
        signing.sign_all([], now, body)


async def test_roll_over_the_api(
    client: httpx.AsyncClient,
    as_key: object,
    db: Database,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    make = as_key  # a factory of clients authenticated with a given key
    assert callable(make)
    shop = await create_merchant(client, name="Shop A")
    other = await create_merchant(client, name="Shop B")
    mine: httpx.AsyncClient = make(await merchant_key(client, shop["id"]))
    theirs: httpx.AsyncClient = make(await merchant_key(client, other["id"]))

    made = await mine.post("/v1/webhook_endpoints", json={"url": receiver.url})
    assert made.status_code == 201, made.text
    hook = made.json()
    path = f"/v1/webhook_endpoints/{hook['id']}/roll_secret"

    # Another merchant's endpoint does not exist for this key.
    refused = await theirs.post(path, json={"overlap_seconds": 60})
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "webhook_endpoint_not_found"

    rolled = await mine.post(path, headers={"Idempotency-Key": "roll-1"})
    assert rolled.status_code == 200, rolled.text
    out = rolled.json()
    assert out["secret"].startswith("whsec_") and out["secret"] != hook["secret"]
    # No body: the deployment's default overlap, 24 hours.
    ends = clock.parse_rfc3339(out["previous_secret_expires_at"])
    assert abs((ends - clock.now()) - timedelta(hours=24)) < timedelta(minutes=1)
    replay = await mine.post(path, headers={"Idempotency-Key": "roll-1"})
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == {**out, "secret": None}
    shown = (await mine.get(f"/v1/webhook_endpoints/{hook['id']}")).json()
    assert shown["secret"] is None
    assert shown["previous_secret_expires_at"] == out["previous_secret_expires_at"]

    # The receiver verifies with either secret meanwhile.
    got = await _deliver_one(db, receiver, merchant=shop["id"])
    body, now = receiver.received[-1].body, int(clock.now().timestamp())
    assert signing.verify(out["secret"], got, body, now=now)
    assert signing.verify(hook["secret"], got, body, now=now)

    bad = await mine.post(path, json={"overlap_seconds": -5})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "overlap_seconds"
    assert "whsec_" not in bad.text
    # The operator may roll any endpoint.
    by_operator = await client.post(path, json={"overlap_seconds": 0})
    assert by_operator.status_code == 200, by_operator.text
    assert by_operator.json()["previous_secret_expires_at"] is None

    # Recorded as key changes, with who did it, never with a secret.
    rolls = sorted(await _audit_rows(db, "webhook_endpoint.secret_rolled"), key=lambda r: r.id)
    assert [r.target_id for r in rolls] == [hook["id"], hook["id"]]
    assert rolls[0].actor.startswith("key:") and rolls[0].actor_role == "merchant"
    assert rolls[0].details["merchant"] == shop["id"]
    assert rolls[0].details["overlap_seconds"] == 86_400
    assert rolls[1].actor_role == "operator" and rolls[1].details["overlap_seconds"] == 0
    created = await _audit_rows(db, "webhook_endpoint.created")
    assert [r.target_id for r in created] == [hook["id"]]
    async with db.session() as s:
        every = [r.__dict__ for r in (await s.execute(select(AuditEvent))).scalars()]
    secrets_seen = [hook["secret"], out["secret"], by_operator.json()["secret"]]
    dumped = json.dumps(every, default=str)
    assert not [s for s in secrets_seen if s in dumped]
    assert not [s for s in secrets_seen if s in caplog.text]
    async with db.session() as s:
        row = await s.get(WebhookEndpoint, hook["id"])
        assert row is not None and row.sealed_previous_secret is None


async def test_secrets_are_stored_sealed_and_bound_to_their_endpoint(
    db: Database, receiver: Receiver
) -> None:
    made = [
        await db.run_in_transaction(
            lambda s: events.create_endpoint(s, merchant_id=None, url=receiver.url, events=["*"])
        )
        for _ in range(2)
    ]
    rolled = await db.run_in_transaction(
        lambda s: events.roll_secret(s, made[0].id, merchant_id=None)
    )
    assert made[0].secret and made[1].secret and rolled.secret
    async with db.session() as s:
        first = await s.get(WebhookEndpoint, made[0].id)
        second = await s.get(WebhookEndpoint, made[1].id)
        assert first is not None and second is not None
        stored = [first.sealed_secret, first.sealed_previous_secret, second.sealed_secret]
        for blob, secret in zip(
            stored, [rolled.secret, made[0].secret, made[1].secret], strict=True
        ):
            assert isinstance(blob, bytes) and secret.encode() not in blob
            # Nor the random part without its prefix.
            assert secret.removeprefix("whsec_").encode() not in blob
        assert events.signing_secrets(first, clock.now()) == [rolled.secret, made[0].secret]
        # A sealed secret copied onto another endpoint does not open there.
        second.sealed_secret = first.sealed_secret
        with pytest.raises(VaultIntegrityError):
            events.signing_secrets(second, clock.now())
