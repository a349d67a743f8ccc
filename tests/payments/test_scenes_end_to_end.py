"""Every business scene, end to end over HTTP: a card bound, a payment authorised, captured
and partly refunded; its signed webhooks received in order by a real endpoint; the ledger
balanced; the simulated bank network charging exactly what PayHub says was charged."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from payhub import jobs
from payhub.channels.base import ChannelAdapter
from payhub.core import clock
from payhub.db.session import Database
from payhub.events import signing
from payhub.payments.models import SCENES
from payhub.vault import testcards
from tests.events.receiver import Received, Receiver, running_receiver
from tests.payments.helpers import EXP_YEAR, merchant_fees, network, open_shop

# The documented payment and refund events (docs/payments.md).
SUBSCRIBED = [
    "payment.processing",
    "payment.requires_capture",
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "payment.authorization_expired",
    "refund.succeeded",
]
# A card per scene, from different issuers so that different channels carry them.
CARDS = {
    "food_delivery": ("PARTNER", "debit"),
    "group_buy": ("ICBC", "debit"),
    "local_services": ("CMB", "credit"),
    "cross_border": ("BOC", "credit"),
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


class Deliveries:
    """What the endpoint received, step by step. Within one run of the jobs deliveries go
    out in parallel, so one step's events are put in order by their ids (time-sortable);
    from one step to the next, the order is the order of receipt."""

    def __init__(self, db: Database, receiver: Receiver) -> None:
        self.db = db
        self.receiver = receiver
        self.seen = 0
        self.steps: list[list[Received]] = []

    async def step(self) -> list[str]:
        done = await jobs.run_once(self.db)
        assert all(n >= 0 for n in done.values()), done
        new = self.receiver.received[self.seen :]
        self.seen = len(self.receiver.received)
        new.sort(key=lambda r: json.loads(r.body)["id"])
        self.steps.append(new)
        return [json.loads(r.body)["type"] for r in new]

    @property
    def all(self) -> list[Received]:
        return [r for step in self.steps for r in step]


async def trial_balance(client: httpx.AsyncClient) -> dict[str, tuple[int, int]]:
    """Debits and credits posted over every ledger account, per currency."""
    accounts = await client.get("/v1/ledger/accounts", params={"limit": 100})
    assert accounts.status_code == 200, accounts.text
    assert accounts.json()["has_more"] is False
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for account in accounts.json()["data"]:
        got = await client.get(f"/v1/ledger/accounts/{account['id']}/balance")
        assert got.status_code == 200, got.text
        balance = got.json()
        totals[balance["currency"]][0] += balance["debits_posted"]
        totals[balance["currency"]][1] += balance["credits_posted"]
    return {currency: (d, c) for currency, (d, c) in totals.items()}


@pytest.mark.parametrize("scene", SCENES)
async def test_a_scene_end_to_end(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    receiver: Receiver,
    channels: dict[str, ChannelAdapter],
    scene: str,
) -> None:
    assert scene in CARDS, f"no card chosen for the scene {scene}"
    shop = await open_shop(client, as_key, name=f"{scene} shop")
    me = shop.me
    made = await me.post("/v1/webhook_endpoints", json={"url": receiver.url, "events": SUBSCRIBED})
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    deliveries = Deliveries(db, receiver)

    issuer, kind = CARDS[scene]
    pan = testcards.test_card(issuer, kind, random.Random(scene))
    bound = await me.post(
        "/v1/payment_methods",
        json={
            "type": "card",
            "customer": shop.customer_id,
            "card": {"number": pan, "exp_month": 12, "exp_year": EXP_YEAR},
        },
    )
    assert bound.status_code == 201, bound.text
    token = bound.json()["id"]

    created = await shop.pay(token, 8800, capture_method="manual", scene=scene)
    assert created.status_code == 201, created.text
    payment = created.json()
    pid = payment["id"]
    assert (payment["scene"], payment["status"]) == (scene, "requires_confirmation")
    assert await deliveries.step() == []

    confirmed = await me.post(f"/v1/payments/{pid}/confirm", json={"cvv": "123"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "requires_capture", confirmed.text
    assert await deliveries.step() == ["payment.processing", "payment.requires_capture"]

    captured = await me.post(f"/v1/payments/{pid}/capture")
    assert captured.status_code == 200, captured.text
    assert (captured.json()["status"], captured.json()["amount_captured"]) == ("succeeded", 8800)
    assert await deliveries.step() == ["payment.succeeded"]

    refund = await me.post("/v1/refunds", json={"payment": pid, "amount": 2300})
    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded", refund.text
    assert await deliveries.step() == ["refund.succeeded"]

    # A second payment of the scene, captured at once.
    quick = await shop.paid(token, 1500, scene=scene)
    done = await me.post(f"/v1/payments/{quick['id']}/confirm")
    assert done.json()["status"] == "succeeded", done.text
    assert await deliveries.step() == ["payment.processing", "payment.succeeded"]

    # Every delivery is signed with the endpoint's secret and carries the scene.
    now = int(clock.now().timestamp())
    for got in deliveries.all:
        assert signing.verify(secret, got.headers["payhub-signature"], got.body, now=now)
        event = json.loads(got.body)
        assert event["merchant"] == shop.merchant_id
        assert event["data"]["object"]["scene"] == scene, event
        if event["type"] == "refund.succeeded":
            assert event["data"]["refund"]["id"] == refund.json()["id"]
    assert len({json.loads(r.body)["id"] for r in deliveries.all}) == len(deliveries.all)

    # The ledger balances; PayHub and the simulated network agree on every payment.
    for currency, (debits, credits) in (await trial_balance(client)).items():
        assert debits == credits, currency
    charged = 0
    for payment_id in (pid, quick["id"]):
        shown = (await me.get(f"/v1/payments/{payment_id}")).json()
        assert shown["scene"] == scene
        owed = shown["amount_captured"] - shown["amount_refunded"]
        assert network(channels).charged_for_payment(payment_id) == owed, shown
        (authorization,) = network(channels).authorizations(payment_id=payment_id)
        assert authorization.channel_id == shown["channel"]
        charged += owed
    assert charged == 8800 - 2300 + 1500
    assert network(channels).totals().charged == charged
    pending = await client.get(f"/v1/ledger/accounts/merchant:{shop.merchant_id}:pending/balance")
    # Less the platform's fees, booked in the same journals.
    assert pending.json()["posted"] == charged - await merchant_fees(db, shop.merchant_id)
