"""Operator routing rules through the API: validated, versioned, rolled back, and followed
by the next payment's decision."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.risk.decisions import service as risk
from payhub.risk.decisions.rules import NO_RULES
from tests.payments.helpers import open_shop, static_routing, world


@pytest.fixture(autouse=True)
def _static_order() -> Iterator[None]:
    # These tests are about the rules: the strategy under them keeps the scenario's order,
    # and every channel answers at once and approves. (On the scenario's own channels a
    # payment now and then lost its answer, and its confirmation was answered 202 with the
    # outcome still unknown.)
    with static_routing(), use_channels(world()):
        yield


@pytest.fixture(autouse=True)
async def _risk_rules_off(db: Database) -> None:
    # One card paying again and again is card testing to the risk rules: off here.
    await db.run_in_transaction(lambda s: risk.publish(s, NO_RULES, created_by="tests"))


PREFER_NETSUNION = {
    "id": "cmb_via_netsunion",
    "action": "prefer",
    "channels": ["netsunion"],
    "when": {"issuers": ["CMB"], "max_amount": 100_000},
}


async def _route(shop: Any, token: str, amount: int = 5000) -> dict[str, Any]:
    made = await shop.paid(token, amount)
    confirmed = await shop.me.post(f"/v1/payments/{made['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    route: dict[str, Any] = confirmed.json()["decision"]["route"]
    return route


async def test_the_shipped_default_is_version_zero(client: httpx.AsyncClient) -> None:
    shown = (await client.get("/v1/routing/rules")).json()
    assert shown["version"] == 0 and shown["active"] is True
    assert [r["id"] for r in shown["rules"]] == ["partner_cards_in_house"]
    versions = (await client.get("/v1/routing/rules/versions")).json()["data"]
    assert [v["version"] for v in versions] == [0]


async def test_a_new_version_steers_the_next_payment_and_a_rollback_undoes_it(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "debit")
    before = await _route(shop, token)
    assert before["order"][0] != "netsunion" and before["rules_hit"] == []

    published = await client.post(
        "/v1/routing/rules",
        json={"rules": [PREFER_NETSUNION], "note": "CMB trial"},
        headers={"Idempotency-Key": "rules-1"},
    )
    assert published.status_code == 201, published.text
    v1 = published.json()
    assert (v1["version"], v1["active"], v1["note"]) == (1, True, "CMB trial")
    after = await _route(shop, token)
    assert after["order"][0] == "netsunion"
    assert after["rules_hit"] == ["cmb_via_netsunion"] and after["rules_version"] == 1
    # Above the rule's amount condition, the rule does not apply.
    assert (await _route(shop, token, 200_000))["rules_hit"] == []

    staged = await client.post(
        "/v1/routing/rules",
        json={"rules": [{**PREFER_NETSUNION, "action": "exclude"}], "activate": False},
    )
    assert staged.status_code == 201 and staged.json()["active"] is False
    assert (await client.get("/v1/routing/rules")).json()["version"] == 1

    # Roll back to the shipped default (version 0 is not stored: rolling back is publishing
    # it again), then forward to the staged exclusion.
    rolled = await client.post(
        "/v1/routing/rules",
        json={
            "rules": (await client.get("/v1/routing/rules/versions")).json()["data"][-1]["rules"]
        },
    )
    assert rolled.status_code == 201
    activated = await client.post("/v1/routing/rules/2/activate")
    assert activated.status_code == 200 and activated.json()["active"] is True
    excluded = await _route(shop, token)
    assert "netsunion" not in excluded["order"]
    assert excluded["excluded"]["netsunion"] == "excluded by rule cmb_via_netsunion"
    versions = (await client.get("/v1/routing/rules/versions")).json()["data"]
    assert [(v["version"], v["active"]) for v in versions] == [
        (3, False),
        (2, True),
        (1, False),
    ]


async def test_a_split_sends_a_share_of_payments_first_to_each_channel(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    split = {
        "id": "share_icbc",
        "action": "split",
        "weights": {"unionpay_quick": 50, "netsunion": 50},
        "when": {"issuers": ["ICBC"]},
    }
    assert (await client.post("/v1/routing/rules", json={"rules": [split]})).status_code == 201
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "debit")
    firsts = [(await _route(shop, token, 1000 + n))["order"][0] for n in range(24)]
    assert set(firsts) == {"unionpay_quick", "netsunion"}
    assert 2 <= firsts.count("netsunion") <= 22  # 50/50 by payment id


async def test_bad_rules_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    cases: list[Any] = [
        [{"id": "x", "action": "prefer", "channels": ["no_such_channel"]}],
        [{"id": "x", "action": "teleport", "channels": ["netsunion"]}],
        [{"id": "x", "action": "prefer", "channels": []}],
        [{"id": "x", "action": "prefer", "channels": ["netsunion", "netsunion"]}],
        [{"id": "x", "action": "split", "weights": {"netsunion": -1}}],
        [{"id": "x", "action": "split", "weights": {"netsunion": 0}}],
        [{"id": "x", "action": "prefer", "channels": ["netsunion"], "when": {"colour": ["red"]}}],
        [
            {
                "id": "x",
                "action": "prefer",
                "channels": ["netsunion"],
                "when": {"min_amount": 10, "max_amount": 5},
            }
        ],
        [
            {"id": "x", "action": "prefer", "channels": ["netsunion"]},
            {"id": "x", "action": "exclude", "channels": ["netsunion"]},
        ],
        [{"action": "prefer", "channels": ["netsunion"]}],
    ]
    for rules in cases:
        refused = await client.post("/v1/routing/rules", json={"rules": rules})
        assert refused.status_code == 400, (rules, refused.text)
        assert refused.json()["error"]["code"] == "validation_error"
    missing = await client.post("/v1/routing/rules/7/activate")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "routing_rules_not_found"
    assert [
        v["version"] for v in (await client.get("/v1/routing/rules/versions")).json()["data"]
    ] == [0]
    # Merchants neither read nor change the rules.
    shop = await open_shop(client, as_key)
    for response in (
        await shop.me.get("/v1/routing/rules"),
        await shop.me.post("/v1/routing/rules", json={"rules": []}),
        await shop.me.get("/v1/channels"),
    ):
        assert response.status_code == 403


async def test_channels_show_what_they_take_and_what_was_learnt(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "credit")
    for n in range(5):
        await _route(shop, token, 1000 + n)
    listed = (await client.get("/v1/channels")).json()["data"]
    by_id = {c["id"]: c for c in listed}
    assert {"partner_bank", "unionpay_quick", "netsunion"} <= set(by_id)
    channel = by_id["unionpay_quick"]
    assert channel["fee_bps"]["credit"] >= 0 and channel["timeout_ms"] > 0
    assert channel["state"] in ("healthy", "degraded", "eliminated")
