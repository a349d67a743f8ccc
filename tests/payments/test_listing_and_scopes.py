"""Listing payments and refunds, the recorded decision, and the refunds scope."""

from __future__ import annotations

from typing import Any

import httpx

from tests.merchants.helpers import merchant_key
from tests.payments.helpers import open_shop


async def _confirmed(shop: Any, token: str, amount: int, **fields: Any) -> dict[str, Any]:
    made = await shop.paid(token, amount, **fields)
    answer = await shop.me.post(f"/v1/payments/{made['id']}/confirm")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_payments_list_newest_first_with_filters_and_pages(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    other = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    other_token, _ = await other.card("ICBC", "credit")
    made = [
        await _confirmed(shop, token, 100 + n, scene="group_buy" if n % 2 else "food_delivery")
        for n in range(5)
    ]
    pending = await shop.paid(token, 999)
    await _confirmed(other, other_token, 4242)

    listed = (await shop.me.get("/v1/payments")).json()
    ids = [p["id"] for p in listed["data"]]
    assert ids == [pending["id"], *[p["id"] for p in reversed(made)]]
    assert listed["has_more"] is False

    page = (await shop.me.get("/v1/payments", params={"limit": 2})).json()
    assert [p["id"] for p in page["data"]] == ids[:2] and page["has_more"] is True
    after = page["data"][-1]["id"]
    rest = (await shop.me.get("/v1/payments", params={"starting_after": after})).json()
    assert [p["id"] for p in rest["data"]] == ids[2:]

    group = (await shop.me.get("/v1/payments", params={"scene": "group_buy"})).json()["data"]
    assert {p["scene"] for p in group} == {"group_buy"} and len(group) == 2
    waiting = (
        await shop.me.get("/v1/payments", params={"status": "requires_confirmation"})
    ).json()["data"]
    assert [p["id"] for p in waiting] == [pending["id"]]

    # The operator sees everyone, or one merchant when it names it.
    everyone = (await client.get("/v1/payments", params={"limit": 100})).json()["data"]
    assert len(everyone) == 7
    theirs = (await client.get("/v1/payments", params={"merchant": other.merchant_id})).json()
    assert [p["amount"] for p in theirs["data"]] == [4242]
    # A merchant naming another merchant sees nothing of it.
    refused = await shop.me.get("/v1/payments", params={"merchant": other.merchant_id})
    assert refused.status_code == 404, refused.text

    for params, code in (
        ({"starting_after": "nonsense"}, "invalid_id"),
        ({"status": "paid"}, "validation_error"),
        ({"limit": 0}, "validation_error"),
        ({"created_from": "yesterday"}, "validation_error"),
    ):
        bad = await shop.me.get("/v1/payments", params=params)
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["code"] == code


async def test_the_decision_is_recorded_on_the_payment(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key, per_payment_limit=50_000, daily_limit=200_000)
    token, _ = await shop.card("PARTNER", "debit")
    paid = await _confirmed(shop, token, 1500)
    decision = paid["decision"]
    assert decision["risk"]["outcome"] == "approve"
    assert [c["rule"] for c in decision["risk"]["checks"]] == [
        "per_payment_limit",
        "daily_limit",
    ]
    route = decision["route"]
    assert route["rules_hit"] == ["partner_cards_in_house"] and route["rules_version"] == 0
    assert route["order"][0] == "partner_bank" == paid["channel"]
    # Every candidate's score is explained, and channels that cannot take the card say why.
    assert set(route["scores"]) == set(route["order"])
    assert all("does not take" in why for why in route["excluded"].values())
    assert decision["context"] == {"issuer": "PARTNER", "card_type": "debit"}
    card, _ = await shop.card("CMB", "credit")
    other = await _confirmed(shop, card, 1500)
    assert other["decision"]["route"]["rules_hit"] == []
    assert other["decision"]["risk"]["checks"][1]["used_today"] == 1500


async def test_refunds_are_listed_per_payment_and_need_the_refunds_scope(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    first = await _confirmed(shop, token, 5000)
    second = await _confirmed(shop, token, 3000)
    made = []
    for payment, amount in ((first, 1000), (first, 500), (second, 3000)):
        answer = await shop.me.post(
            "/v1/refunds", json={"payment": payment["id"], "amount": amount}
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    everything = (await shop.me.get("/v1/refunds")).json()["data"]
    assert [r["id"] for r in everything] == [r["id"] for r in reversed(made)]
    of_first = (await shop.me.get("/v1/refunds", params={"payment": first["id"]})).json()["data"]
    assert [r["amount"] for r in of_first] == [500, 1000]

    other = await open_shop(client, as_key)
    hidden = await other.me.get("/v1/refunds", params={"payment": first["id"]})
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "payment_not_found"
    assert (await other.me.get("/v1/refunds")).json()["data"] == []

    # A key made without the refunds scope takes payments but cannot refund them.
    checkout = as_key(await merchant_key(client, shop.merchant_id, scopes=["read", "write"]))
    refused = await checkout.post("/v1/refunds", json={"payment": first["id"], "amount": 1})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "permission_denied"
    shown = (await shop.me.get(f"/v1/payments/{first['id']}")).json()
    assert shown["amount_refunded"] == 1500


async def test_the_payment_report_adds_up_by_scene_and_channel(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    other = await open_shop(client, as_key)
    partner, _ = await shop.card("PARTNER", "debit")
    icbc, _ = await shop.card("ICBC", "credit")
    await _confirmed(shop, partner, 1000, scene="group_buy")
    await _confirmed(shop, icbc, 2000, scene="group_buy")
    kept = await _confirmed(shop, partner, 3000, scene="food_delivery", capture_method="manual")
    await shop.paid(partner, 400, scene="food_delivery")  # never confirmed
    refunded = await shop.me.post("/v1/refunds", json={"payment": kept["id"], "amount": 1})
    assert refunded.status_code == 409  # nothing captured yet: refused, not counted
    await shop.me.post(f"/v1/payments/{kept['id']}/capture", json={"amount": 2500})
    await shop.me.post("/v1/refunds", json={"payment": kept["id"], "amount": 500})
    other_token, _ = await other.card("CMB", "debit")
    await _confirmed(other, other_token, 9999, scene="group_buy")

    by_scene = (await shop.me.get("/v1/reports/payments")).json()["data"]
    assert by_scene == [
        {
            "object": "payment_summary",
            "scene": "food_delivery",
            "currency": "CNY",
            "payments": 2,
            "confirmed": 1,
            "authorised": 1,
            "authorisation_rate": 1.0,
            "amount": 3400,
            "amount_captured": 2500,
            "amount_refunded": 500,
        },
        {
            "object": "payment_summary",
            "scene": "group_buy",
            "currency": "CNY",
            "payments": 2,
            "confirmed": 2,
            "authorised": 2,
            "authorisation_rate": 1.0,
            "amount": 3000,
            "amount_captured": 3000,
            "amount_refunded": 0,
        },
    ]
    by_channel = (await shop.me.get("/v1/reports/payments", params={"group_by": "channel"})).json()[
        "data"
    ]
    assert {row["channel"]: row["amount_captured"] for row in by_channel} == {
        None: 0,
        "partner_bank": 3500,
        "unionpay_quick": 2000,
    }
    everyone = (await client.get("/v1/reports/payments")).json()["data"]
    assert sum(row["payments"] for row in everyone) == 5
    assert (
        await shop.me.get("/v1/reports/payments", params={"group_by": "bank"})
    ).status_code == 400
