"""Fee plans and channel cost schedules through the API, and their booking in the
capture and refund journals of real payments (balanced, never over-refunded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from payhub.core import clock
from payhub.db.session import Database
from tests.api.helpers import assert_error
from tests.payments.helpers import Shop, balance, count_rows, open_shop

FEE_TABLES = ("fee_plans", "fee_plan_versions", "channel_cost_versions", "payment_fees")

PLAN = {
    "name": "Group-buy special",
    "currency": "CNY",
    "rules": [
        {"card_type": "credit", "bps": 80, "minimum": 50},
        {"channel_class": "in_house", "bps": 30, "fixed": 5, "minimum": 20, "cap": 2_000},
        {"bps": 55},
    ],
}


async def fees_of(client: httpx.AsyncClient, payment_id: str) -> dict[str, Any]:
    found = await client.get(f"/v1/payments/{payment_id}/fees")
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def trial_balance(client: httpx.AsyncClient) -> tuple[int, int]:
    """Debits and credits of every journal in the ledger."""
    debits = credits = 0
    page = (await client.get("/v1/ledger/journals?limit=100")).json()
    for journal in page["data"]:
        for posting in journal["postings"]:
            if posting["side"] == "debit":
                debits += posting["amount"]
            else:
                credits += posting["amount"]
    return debits, credits


async def manual_payment(shop: Shop, token: str, amount: int) -> str:
    payment = await shop.paid(token, amount, capture_method="manual")
    confirmed = await shop.me.post(f"/v1/payments/{payment['id']}/confirm", json={"cvv": "123"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "requires_capture"
    return str(payment["id"])


async def sale(shop: Shop, token: str, amount: int) -> str:
    payment = await shop.paid(token, amount)
    confirmed = await shop.me.post(f"/v1/payments/{payment['id']}/confirm", json={"cvv": "123"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    return str(payment["id"])


async def test_the_built_in_plan_and_list_prices_are_booked_with_a_sale(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "debit")
    pid = await sale(shop, token, 5_000)

    # 0.6% to the platform; partner_bank's list price for debit cards is 20 bps.
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") == 5_000 - 30
    assert await balance(db, "platform:fees") == 30
    assert await balance(db, "channel:partner_bank:fees") == 10
    assert await balance(db, "channel:partner_bank:clearing") == 5_000 - 10
    journals = (await shop.me.get(f"/v1/payments/{pid}/journals")).json()["data"]
    assert len(journals) == 1 and len(journals[0]["postings"]) == 6
    debits, credits = await trial_balance(client)
    assert debits == credits == 5_000 + 30 + 10

    mine = await fees_of(shop.me, pid)
    assert (mine["merchant_fee"], mine["captured"]) == (30, 5_000)
    assert mine["channel_cost"] is None and mine["margin"] is None
    assert "cost_price" not in mine["detail"] and "channel" not in mine["detail"]
    ours = await fees_of(client, pid)
    assert (ours["merchant_fee"], ours["channel_cost"], ours["margin"]) == (30, 10, 20)
    assert ours["detail"]["fee_plan"] is None  # the built-in plan

    other = await open_shop(client, as_key, name="Other shop")
    assert_error(await other.me.get(f"/v1/payments/{pid}/fees"), 404, "payment_not_found")


async def test_a_plan_assigned_prices_partial_captures_and_refunds_never_over_refunded(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    made = await client.post("/v1/fee_plans", json=PLAN)
    assert made.status_code == 201, made.text
    plan = made.json()
    assert plan["in_force_version"] == 1 and plan["versions"][0]["rules"][2]["bps"] == 55
    assigned = await client.post(
        f"/v1/merchants/{shop.merchant_id}/fee_plan", json={"fee_plan": plan["id"]}
    )
    assert assigned.status_code == 200 and assigned.json()["fee_plan"] == plan["id"]
    async with db.engine.connect() as conn:
        actions = (await conn.exec_driver_sql("SELECT action FROM audit_events")).all()
    assert ("merchant.fee_plan_assigned",) in actions

    token, _ = await shop.card("PARTNER", "debit")  # in-house: 30 bps + 5, min 20, cap 2000
    pid = await manual_payment(shop, token, 10_000)
    for amount in (1_000, 2_001, 3_333):
        captured = await shop.me.post(f"/v1/payments/{pid}/capture", json={"amount": amount})
        assert captured.status_code == 200, captured.text
    fees = await fees_of(client, pid)
    # On 6 334 captured: 19.002 → 19, + 5 = 24 (the minimum 20 was charged on the first).
    assert fees["merchant_fee_charged"] == 24
    assert fees["detail"]["fee_plan"] == plan["id"] and fees["detail"]["fee_plan_version"] == 1
    assert fees["channel_cost_charged"] == 13  # 20 bps of 6 334 = 12.668 → 13

    for amount in (1_111, 1_111):
        refunded = await shop.me.post("/v1/refunds", json={"payment": pid, "amount": amount})
        assert refunded.status_code == 201, refunded.text
    fees = await fees_of(client, pid)
    assert fees["merchant_fee_refunded"] == 8  # 24 × 2 222 / 6 334 = 8.42 → 8
    assert fees["channel_cost_refunded"] == 0  # list prices: the channel keeps its fee
    rest = await shop.me.post("/v1/refunds", json={"payment": pid})
    assert rest.status_code == 201, rest.text
    fees = await fees_of(client, pid)
    assert fees["merchant_fee_refunded"] == fees["merchant_fee_charged"] == 24
    assert fees["merchant_fee"] == 0 and fees["margin"] == -13
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") == 0
    assert await balance(db, "platform:fees") == 0
    assert await balance(db, "channel:partner_bank:fees") == 13
    assert await balance(db, "channel:partner_bank:clearing") == -13
    debits, credits = await trial_balance(client)
    assert debits == credits


async def test_a_new_version_takes_effect_at_its_time_and_payments_keep_theirs(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    with clock.use_clock(clock.FrozenClock(start)) as frozen:
        assert isinstance(frozen, clock.FrozenClock)
        shop = await open_shop(client, as_key)
        plan = (await client.post("/v1/fee_plans", json={**PLAN, "default": True})).json()
        later = start + timedelta(hours=1)
        added = await client.post(
            f"/v1/fee_plans/{plan['id']}/versions",
            json={"rules": [{"bps": 100}], "effective_from": clock.to_rfc3339(later)},
        )
        assert added.status_code == 201, added.text
        assert added.json()["in_force_version"] == 1
        token, _ = await shop.card("ICBC", "debit")  # unionpay_quick, class unionpay: 55 bps
        before = await manual_payment(shop, token, 10_000)
        await shop.me.post(f"/v1/payments/{before}/capture", json={"amount": 4_000})
        assert (await fees_of(client, before))["merchant_fee_charged"] == 22

        frozen.set(later)
        after = await sale(shop, token, 10_000)
        assert (await fees_of(client, after))["merchant_fee_charged"] == 100
        assert (await client.get(f"/v1/fee_plans/{plan['id']}")).json()["in_force_version"] == 2
        # The earlier payment keeps the price pinned at its first capture.
        await shop.me.post(f"/v1/payments/{before}/capture", json={"amount": 6_000})
        fees = await fees_of(client, before)
        assert fees["merchant_fee_charged"] == 55 and fees["detail"]["fee_plan_version"] == 1

        # A version may not start in the past, nor before the one it follows.
        for moment in (start, later - timedelta(seconds=1)):
            refused = await client.post(
                f"/v1/fee_plans/{plan['id']}/versions",
                json={"rules": [{"bps": 1}], "effective_from": clock.to_rfc3339(moment)},
            )
            assert_error(refused, 409, "fee_version_out_of_order")
        assert len((await client.get(f"/v1/fee_plans/{plan['id']}")).json()["versions"]) == 2


async def test_invalid_plans_and_schedules_write_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    before = await count_rows(db, *FEE_TABLES)
    bad_rules: list[tuple[Any, str]] = [
        ([{"bps": -1}], "rules[0].bps"),
        ([{"bps": 10, "minimum": 100, "cap": 50}], "rules[0].minimum"),
        ([{"card_type": "credit", "bps": 10}], "rules[0]"),
        ([{"bps": 10, "channel_class": "wallet"}, {"bps": 1}], "rules[0].channel_class"),
    ]
    for rules, param in bad_rules:
        refused = await client.post("/v1/fee_plans", json={**PLAN, "rules": rules})
        assert_error(refused, 400, "validation_error")
        assert refused.json()["error"]["param"] == param
    assert_error(
        await client.post("/v1/fee_plans", json={**PLAN, "currency": "XYZ"}),
        400,
        "currency_invalid",
    )
    assert_error(
        await client.post(
            "/v1/fee_plans", json={**PLAN, "channel_classes": {"nowhere_pay": "other"}}
        ),
        400,
        "validation_error",
    )
    price = {"bps": 10}
    assert_error(
        await client.post(
            "/v1/channel_cost_schedules",
            json={"channel": "nowhere_pay", "debit": price, "credit": price},
        ),
        404,
        "channel_not_found",
    )
    assert_error(
        await client.post(
            "/v1/channel_cost_schedules",
            json={"channel": "partner_bank", "debit": {"bps": -3}, "credit": price},
        ),
        400,
        "validation_error",
    )
    assert_error(
        await client.post(
            "/v1/channel_cost_schedules",
            json={
                "channel": "partner_bank",
                "debit": {"bps": 1, "minimum": 9, "cap": 2},
                "credit": price,
            },
        ),
        400,
        "validation_error",
    )
    assert_error(await client.get("/v1/fee_plans/fpl_nope"), 404, "fee_plan_not_found")
    assert_error(
        await client.post("/v1/merchants/mer_nope/fee_plan", json={"fee_plan": None}),
        404,
        "merchant_not_found",
    )
    assert await count_rows(db, *FEE_TABLES) == before


async def test_a_channel_schedule_prices_its_payments_and_returns_fees_if_it_says_so(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    listed = (await client.get("/v1/channel_cost_schedules")).json()["data"]
    by_channel = {s["channel"]: s for s in listed}
    assert by_channel["unionpay_quick"]["version"] is None  # list prices
    assert by_channel["unionpay_quick"]["debit"]["bps"] == 35
    made = await client.post(
        "/v1/channel_cost_schedules",
        json={
            "channel": "unionpay_quick",
            "debit": {"bps": 25, "fixed": 2, "minimum": 5, "cap": 1_000},
            "credit": {"bps": 50},
            "refund_returns_fee": True,
            "note": "negotiated",
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["version"] == 1
    versions = (await client.get("/v1/channel_cost_schedules/unionpay_quick")).json()["data"]
    assert [v["version"] for v in versions] == [1]

    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "debit")
    pid = await sale(shop, token, 8_000)
    fees = await fees_of(client, pid)
    assert fees["channel_cost_charged"] == 22  # 25 bps of 8 000 = 20, + 2
    assert fees["detail"]["cost_version"] == 1
    refund = await shop.me.post("/v1/refunds", json={"payment": pid, "amount": 4_000})
    assert refund.status_code == 201
    fees = await fees_of(client, pid)
    assert fees["channel_cost_refunded"] == 11
    assert await balance(db, "channel:unionpay_quick:fees") == 11
    assert await balance(db, "channel:unionpay_quick:clearing") == 8_000 - 22 - 4_000 + 11


async def test_quote_and_margin_and_channel_cost_reports(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    quote = await client.get(
        "/v1/fees/quote",
        params={"merchant": shop.merchant_id, "amount": 10_000, "channel": "icbc_direct",
                "card_type": "credit"},
    )  # fmt: skip
    assert quote.status_code == 200, quote.text
    got = quote.json()
    assert (got["merchant_fee"], got["channel_cost"], got["margin"]) == (60, 40, 20)
    assert got["channel_class"] == "other" and got["fee_plan"] is None
    assert await count_rows(db, "payment_fees") == {"payment_fees": 0}

    # ICBC cards go to icbc_direct (15 bps debit) by an operator rule; the static route
    # would have sent them to unionpay_quick (35 bps).
    rules = await client.post(
        "/v1/routing/rules",
        json={"rules": [{"id": "icbc_direct", "action": "prefer", "channels": ["icbc_direct"],
                         "when": {"issuers": ["ICBC"]}}]},
    )  # fmt: skip
    assert rules.status_code == 201, rules.text
    icbc, _ = await shop.card("ICBC", "debit")
    partner, _ = await shop.card("PARTNER", "credit")
    for token, amount in ((icbc, 10_000), (icbc, 30_000), (partner, 20_000)):
        await sale(shop, token, amount)

    by_channel = (await client.get("/v1/reports/fees?group_by=channel")).json()["data"]
    lines = {x["channel"]: x for x in by_channel}
    assert lines["icbc_direct"]["payments"] == 2
    assert lines["icbc_direct"]["merchant_fees"] == 240
    assert lines["icbc_direct"]["channel_costs"] == 60
    assert lines["icbc_direct"]["margin"] == 180
    assert lines["partner_bank"]["channel_costs"] == 90  # 45 bps credit
    by_card = (await client.get("/v1/reports/fees?group_by=card_type")).json()["data"]
    assert {x["card_type"]: x["payments"] for x in by_card} == {"credit": 1, "debit": 2}
    by_merchant = (await client.get("/v1/reports/fees?group_by=merchant")).json()["data"]
    assert by_merchant[0]["merchant"] == shop.merchant_id and by_merchant[0]["margin"] == 210
    future = clock.to_rfc3339(datetime.now(UTC) + timedelta(days=1))
    later = (await client.get("/v1/reports/fees", params={"from": future})).json()
    assert later["data"] == []

    report = (await client.get("/v1/reports/channel_costs")).json()
    total = report["totals"][0]
    assert total["actual"] == 150 and total["list_price"] == 150
    assert total["static_route"] == 140 + 90  # ICBC at unionpay_quick's 35 bps
    assert total["saving_vs_static_pct"] == round(80 * 100 / 230, 2)
    assert_error(await client.get("/v1/reports/fees?group_by=colour"), 400, "validation_error")


async def test_plan_creation_is_idempotent_and_default_plan_applies(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    headers = {"Idempotency-Key": "plan-once"}
    first = await client.post("/v1/fee_plans", json=PLAN, headers=headers)
    again = await client.post("/v1/fee_plans", json=PLAN, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    assert (await client.get("/v1/fee_plans")).json()["data"][0]["id"] == first.json()["id"]
    assert await count_rows(db, "fee_plans") == {"fee_plans": 1}

    made_default = await client.post(f"/v1/fee_plans/{first.json()['id']}/make_default")
    assert made_default.status_code == 200 and made_default.json()["default"] is True
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("PARTNER", "credit")  # credit rule: 80 bps, minimum 50
    pid = await sale(shop, token, 1_000)
    assert (await fees_of(client, pid))["merchant_fee_charged"] == 50
