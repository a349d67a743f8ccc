"""Payments through HTTP: the lifecycle, the money trail, declines, lost answers, bad input."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from payhub.channels.base import HARD_DECLINE_CODES, RESPONSE_CODES, ChannelAdapter
from payhub.core import clock
from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.payments import orchestrator
from payhub.payments.channels import use_channels
from payhub.payments.tasks import expire_lapsed_authorizations
from tests.payments.helpers import (
    balance,
    channel_costs,
    count_rows,
    event_types,
    merchant_fees,
    network,
    open_shop,
    world,
)

CVV = "737"
MONEY_TABLES = ("payments", "payment_attempts", "refunds", "ledger_journals", "events")


async def test_manual_capture_partial_refund_and_the_money_trail(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: dict[str, ChannelAdapter]
) -> None:
    shop = await open_shop(client, as_key)
    token, pan = await shop.card("PARTNER", "debit")
    bodies: list[str] = []

    made = await shop.me.post(
        "/v1/payments",
        json={
            "amount": 5000,
            "currency": "CNY",
            "payment_method": token,
            "customer": shop.customer_id,
            "capture_method": "manual",
            "scene": "food_delivery",
            "metadata": {"order": "A-1"},
        },
        headers={"Idempotency-Key": "pay-1"},
    )
    assert made.status_code == 201, made.text
    payment = made.json()
    bodies.append(made.text)
    assert payment["id"].startswith("pay_") and payment["status"] == "requires_confirmation"
    assert (payment["merchant"], payment["customer"]) == (shop.merchant_id, shop.customer_id)
    replay = await shop.me.post(
        "/v1/payments",
        json={
            "amount": 5000,
            "currency": "CNY",
            "payment_method": token,
            "customer": shop.customer_id,
            "capture_method": "manual",
            "scene": "food_delivery",
            "metadata": {"order": "A-1"},
        },
        headers={"Idempotency-Key": "pay-1"},
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == payment["id"]
    pid = payment["id"]

    confirmed = await shop.me.post(
        f"/v1/payments/{pid}/confirm", json={"cvv": CVV}, headers={"Idempotency-Key": "c-1"}
    )
    assert confirmed.status_code == 200, confirmed.text
    bodies.append(confirmed.text)
    body = confirmed.json()
    assert body["status"] == "requires_capture" and body["channel"] == "partner_bank"
    assert body["amount_capturable"] == 5000 and body["expires_at"] is not None
    again = await shop.me.post(
        f"/v1/payments/{pid}/confirm", json={"cvv": CVV}, headers={"Idempotency-Key": "c-1"}
    )
    assert again.headers.get("Idempotent-Replayed") == "true"

    first = await shop.me.post(f"/v1/payments/{pid}/capture", json={"amount": 3000})
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["amount_capturable"]) == ("succeeded", 2000)
    second = await shop.me.post(f"/v1/payments/{pid}/capture", json={"amount": 1000})
    assert second.json()["amount_captured"] == 4000
    bodies += [first.text, second.text]

    refund = await shop.me.post("/v1/refunds", json={"payment": pid, "amount": 1500})
    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded" and refund.json()["id"].startswith("re_")
    shown_refund = await shop.me.get(f"/v1/refunds/{refund.json()['id']}")
    assert shown_refund.json() == refund.json()
    shown = await shop.me.get(f"/v1/payments/{pid}")
    assert shown.json()["amount_refunded"] == 1500
    bodies += [refund.text, shown.text, shown_refund.text]

    attempts = (await shop.me.get(f"/v1/payments/{pid}/attempts")).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [
        ("authorize", "approved"),
        ("capture", "approved"),
        ("capture", "approved"),
        ("refund", "approved"),
    ]
    assert len({a["request_id"] for a in attempts}) == 4
    journals = (await shop.me.get(f"/v1/payments/{pid}/journals")).json()["data"]
    assert [j["id"][:4] for j in journals] == ["cap_", "cap_", "ref_"]
    assert [j["postings"][0]["amount"] for j in journals] == [3000, 1000, 1500]
    bodies += [str(attempts), str(journals)]

    # The ledger, the simulator and PayHub agree on what the cardholder paid.
    charged = 4000 - 1500
    # Less the fees booked in the same journals: the channel's 20 bps of the 4000 captured
    # (8, kept on the refund); the platform's 0.6% (24), of which the refund returned 1500/4000
    # (9).
    assert await channel_costs(db, "partner_bank") == 8
    assert await merchant_fees(db, shop.merchant_id) == 24 - 9
    assert await balance(db, "channel:partner_bank:clearing") == charged - 8
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") == charged - 15
    assert network(channels).charged_for_payment(pid) == charged
    assert await event_types(db) == [
        "payment.processing",
        "payment.requires_capture",
        "payment.succeeded",
        "payment.captured",
        "refund.succeeded",
    ]

    # No card number or CVV in any answer, nor in any table but the vault's.
    for text in bodies:
        assert pan not in text and pan[-10:] not in text and '"cvv"' not in text
    async with db.engine.connect() as conn:
        for table in (*MONEY_TABLES, "idempotency_keys", "ledger_entries", "ledger_accounts"):
            rows = repr((await conn.exec_driver_sql(f"SELECT * FROM {table}")).all())
            assert pan not in rows and pan[-10:] not in rows, table
            assert f"'{CVV}'" not in rows and "cvv" not in rows.lower(), table


async def test_automatic_capture(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: dict[str, ChannelAdapter]
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    payment = await shop.paid(token, 3500)
    confirmed = (await shop.me.post(f"/v1/payments/{payment['id']}/confirm")).json()
    assert confirmed["status"] == "succeeded" and confirmed["channel"] == "unionpay_quick"
    assert (confirmed["amount_captured"], confirmed["amount_capturable"]) == (3500, 0)
    cost = await channel_costs(db, "unionpay_quick")  # 60 bps (credit) of 3500: 21
    assert cost == 21
    assert await balance(db, "channel:unionpay_quick:clearing") == 3500 - cost
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") == 3500 - 21
    assert network(channels).charged_for_payment(payment["id"]) == 3500
    assert await event_types(db) == ["payment.processing", "payment.succeeded"]
    # A full refund without an amount.
    refund = await shop.me.post("/v1/refunds", json={"payment": payment["id"]})
    assert refund.json()["amount"] == 3500
    # The channel keeps its fee of a refunded payment; the merchant gets its fee back.
    assert await balance(db, "channel:unionpay_quick:clearing") == -cost
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") == 0
    assert network(channels).charged_for_payment(payment["id"]) == 0


async def test_hard_decline_fails_without_trying_another_channel(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "debit")
    payment = await shop.paid(token)
    with use_channels(world(hard_decline_rate=1.0)):
        confirmed = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "failed"
    attempts = (await shop.me.get(f"/v1/payments/{payment['id']}/attempts")).json()["data"]
    assert len(attempts) == 1 and attempts[0]["raw_code"] in HARD_DECLINE_CODES
    assert body["failure_code"] == RESPONSE_CODES[attempts[0]["raw_code"]].error_code
    assert (await shop.me.get(f"/v1/payments/{payment['id']}/journals")).json()["data"] == []
    assert await balance(db, "channel:unionpay_quick:clearing") is None
    assert await event_types(db) == ["payment.processing", "payment.failed"]


async def test_soft_decline_falls_back_to_the_next_channel(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "debit")
    payment = await shop.paid(token)
    mapping = world(success={"unionpay_quick": 0.0})
    with use_channels(mapping):
        body = (await shop.me.post(f"/v1/payments/{payment['id']}/confirm")).json()
    assert body["status"] == "succeeded" and body["channel"] == "netsunion"
    attempts = (await shop.me.get(f"/v1/payments/{payment['id']}/attempts")).json()["data"]
    # Automatic capture: each try is a sale (authorised and captured in one message).
    assert [(a["kind"], a["channel"], a["status"]) for a in attempts] == [
        ("sale", "unionpay_quick", "declined"),
        ("sale", "netsunion", "approved"),
    ]
    assert network(mapping).totals(payment_id=payment["id"]).authorizations == 1
    cost = await channel_costs(db, "netsunion")
    assert await balance(db, "channel:netsunion:clearing") == 5000 - cost


async def test_lost_answer_stays_processing_until_resolved(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "debit")
    payment = await shop.paid(token, 4200)
    mapping = world(lost={"unionpay_quick": 1.0})
    with use_channels(mapping):
        answer = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["status"] == "processing" and body["pending_attempt"] is not None
        attempts = (await shop.me.get(f"/v1/payments/{payment['id']}/attempts")).json()["data"]
        assert [(a["channel"], a["status"]) for a in attempts] == [("unionpay_quick", "lost")]
        assert await balance(db, "channel:unionpay_quick:clearing") is None

        settled = await orchestrator.resolve_in_flight(db)
        assert settled == 1
        assert await orchestrator.resolve_in_flight(db) == 0

    shown = (await shop.me.get(f"/v1/payments/{payment['id']}")).json()
    assert shown["status"] == "succeeded" and shown["amount_captured"] == 4200
    totals = network(mapping).totals(payment_id=payment["id"])
    assert (totals.authorizations, totals.charged) == (1, 4200)
    cost = await channel_costs(db, "unionpay_quick")
    assert await balance(db, "channel:unionpay_quick:clearing") == 4200 - cost
    attempts = (await shop.me.get(f"/v1/payments/{payment['id']}/attempts")).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("sale", "approved")]
    assert await event_types(db) == ["payment.processing", "payment.succeeded"]


async def test_lost_request_never_received_fails(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: dict[str, ChannelAdapter]
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "debit")
    payment = await shop.paid(token, 4200)
    mapping = world(lost={"unionpay_quick": 1.0})
    with use_channels(mapping):
        await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
    # A fresh network never saw the request: the query answers not_found.
    assert await orchestrator.resolve_in_flight(db) == 1
    shown = (await shop.me.get(f"/v1/payments/{payment['id']}")).json()
    assert shown["status"] == "failed" and shown["failure_code"] == "channel_timeout"


async def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_bad_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key, per_payment_limit=10000, daily_limit=20000)
    token, _ = await shop.card("PARTNER", "debit")
    before = await count_rows(db, *MONEY_TABLES)
    await _refused(await shop.pay(token, 10001), 400, "amount_over_limit")
    await _refused(await shop.pay(token, 500, currency="USD"), 400, "currency_mismatch")
    await _refused(await shop.pay(token, 0), 400, "amount_invalid")
    await _refused(await shop.pay("card_nope"), 404, "payment_method_not_found")
    assert await count_rows(db, *MONEY_TABLES) == before

    # The day's total counts too: 2 × 9000 fit, a third does not.
    await shop.paid(token, 9000)
    await shop.paid(token, 9000)
    await _refused(await shop.pay(token, 9000), 400, "amount_over_limit")

    manual = await shop.paid(token, 1000, capture_method="manual")
    await shop.me.post(f"/v1/payments/{manual['id']}/confirm")
    before = await count_rows(db, *MONEY_TABLES)
    over = await shop.me.post(f"/v1/payments/{manual['id']}/capture", json={"amount": 1001})
    await _refused(over, 400, "capture_exceeds_authorized")
    await _refused(
        await shop.me.post("/v1/refunds", json={"payment": manual["id"], "amount": 1}),
        409,
        "payment_unexpected_state",
    )
    assert await count_rows(db, *MONEY_TABLES) == before

    await shop.me.post(f"/v1/payments/{manual['id']}/capture", json={"amount": 600})
    before = await count_rows(db, *MONEY_TABLES)
    too_much = await shop.me.post("/v1/refunds", json={"payment": manual["id"], "amount": 601})
    await _refused(too_much, 400, "refund_exceeds_captured")
    await _refused(
        await shop.me.post(f"/v1/payments/{manual['id']}/cancel"), 409, "payment_unexpected_state"
    )
    assert await count_rows(db, *MONEY_TABLES) == before

    canceled = await shop.paid(token, 1000, capture_method="manual")
    await shop.me.post(f"/v1/payments/{canceled['id']}/confirm")
    cancel = await shop.me.post(f"/v1/payments/{canceled['id']}/cancel")
    assert cancel.json()["status"] == "canceled" and cancel.json()["amount_capturable"] == 0
    before = await count_rows(db, *MONEY_TABLES)
    await _refused(
        await shop.me.post(f"/v1/payments/{canceled['id']}/capture"),
        409,
        "payment_unexpected_state",
    )
    await _refused(
        await shop.me.post(f"/v1/payments/{canceled['id']}/confirm"),
        409,
        "payment_unexpected_state",
    )
    assert await count_rows(db, *MONEY_TABLES) == before
    attempts = (await shop.me.get(f"/v1/payments/{canceled['id']}/attempts")).json()["data"]
    assert [a["kind"] for a in attempts] == ["authorize", "void"]


async def test_other_merchants_payments_are_not_found(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    other = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    payment = await shop.paid(token)
    await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
    pid = payment["id"]
    for response in (
        await other.me.get(f"/v1/payments/{pid}"),
        await other.me.post(f"/v1/payments/{pid}/confirm"),
        await other.me.post(f"/v1/payments/{pid}/capture"),
        await other.me.post(f"/v1/payments/{pid}/cancel"),
        await other.me.get(f"/v1/payments/{pid}/attempts"),
        await other.me.get(f"/v1/payments/{pid}/journals"),
        await other.me.post("/v1/refunds", json={"payment": pid}),
    ):
        await _refused(response, 404, "payment_not_found")
    # Nor may another merchant pay with this merchant's card.
    await _refused(await other.pay(token), 404, "payment_method_not_found")
    # The operator sees it.
    assert (await client.get(f"/v1/payments/{pid}")).json()["status"] == "succeeded"


@pytest.mark.parametrize("same_key", [True, False])
async def test_concurrent_confirms_charge_once(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    channels: dict[str, ChannelAdapter],
    same_key: bool,
) -> None:
    """20 identical confirms at once: one authorisation at the channel, one capture, one
    journal. With one Idempotency-Key every answer is the same payment; without, the first
    wins and the others are told the payment has moved on."""
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "debit")
    payment = await shop.paid(token, 4200)
    headers = {"Idempotency-Key": "confirm-once"} if same_key else {}
    answers = await asyncio.gather(
        *(shop.me.post(f"/v1/payments/{payment['id']}/confirm", headers=headers) for _ in range(20))
    )
    succeeded = [a for a in answers if a.status_code == 200]
    if same_key:
        assert len(succeeded) == 20
        assert {a.json()["status"] for a in succeeded} == {"succeeded"}
    else:
        assert len(succeeded) == 1, [a.text for a in answers]
        refused = {a.json()["error"]["code"] for a in answers if a.status_code != 200}
        assert refused == {"payment_unexpected_state"}
    assert len(network(channels).authorizations(payment_id=payment["id"])) == 1
    assert network(channels).charged_for_payment(payment["id"]) == 4200
    fees = await merchant_fees(db, shop.merchant_id)
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") == 4200 - fees
    counts = await count_rows(db, "payment_attempts", "ledger_journals")
    assert counts == {"payment_attempts": 1, "ledger_journals": 1}  # one sale


async def test_lapsed_authorizations_are_released(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: dict[str, ChannelAdapter]
) -> None:
    frozen = FrozenClock(clock.now())
    with use_clock(frozen):
        shop = await open_shop(client, as_key)
        token, _ = await shop.card("CCB", "debit")
        untouched = await shop.paid(token, 2000, capture_method="manual")
        partly = await shop.paid(token, 3000, capture_method="manual")
        for payment in (untouched, partly):
            confirmed = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
            assert confirmed.json()["status"] == "requires_capture"
        captured = await shop.me.post(f"/v1/payments/{partly['id']}/capture", json={"amount": 1000})
        assert captured.status_code == 200, captured.text

        assert await expire_lapsed_authorizations(db) == 0  # not yet
        frozen.advance(timedelta(days=7, seconds=1))
        assert await expire_lapsed_authorizations(db) == 2
        assert await expire_lapsed_authorizations(db) == 0

        gone = (await shop.me.get(f"/v1/payments/{untouched['id']}")).json()
        assert (gone["status"], gone["amount_capturable"]) == ("canceled", 0)
        rest = (await shop.me.get(f"/v1/payments/{partly['id']}")).json()
        assert (rest["status"], rest["amount_captured"], rest["amount_capturable"]) == (
            "succeeded",
            1000,
            0,
        )
        # The void reached the channel; only the captured 1000 is charged.
        assert network(channels).charged_for_payment(untouched["id"]) == 0
        assert network(channels).charged_for_payment(partly["id"]) == 1000
        fees = await merchant_fees(db, shop.merchant_id)
        assert await balance(db, f"merchant:{shop.merchant_id}:pending") == 1000 - fees
        late = await shop.me.post(f"/v1/payments/{partly['id']}/capture", json={"amount": 500})
        assert late.status_code >= 400
        types = await event_types(db)
        assert "payment.canceled" in types and "payment.authorization_expired" in types
