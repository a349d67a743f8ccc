"""The risk decision through the payment API: every confirmed payment is decided and the
decision recorded; a decline stops the payment before any channel; rule sets are
published, staged, dry-run and rolled back through `/v1/risk`, compliance only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from payhub.auth import service as auth
from payhub.channels.base import ChannelAdapter
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from tests.payments.helpers import balance, count_rows, network, open_shop, static_routing, world
from tests.risk.helpers import SAMPLE_CSV, loaded

DECLINE_LARGE = {
    "rules": [
        {
            "id": "too_large",
            "description": "Nothing over ¥1,000 today.",
            "score": 100,
            "when": {"feature": "amount", "op": ">", "value": 100_000},
        }
    ],
    "review_at": 50,
    "decline_at": 90,
}


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    mapping = world()
    with use_channels(mapping), static_routing():
        yield mapping


async def _confirmed(shop: Any, token: str, amount: int, **body: Any) -> dict[str, Any]:
    payment = await shop.paid(token, amount)
    answer = await shop.me.post(f"/v1/payments/{payment['id']}/confirm", json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = (await shop.me.get(f"/v1/payments/{payment['id']}")).json()
    return found


async def test_every_confirmed_payment_is_decided_and_recorded(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    located = {
        "device_id": "phone-1",
        "ip": "198.51.100.4",
        "location": {"latitude": 31.2, "longitude": 121.5},
    }
    paid = [await _confirmed(shop, token, 2_000 + n, **located) for n in range(3)]
    assert all(p["status"] == "succeeded" for p in paid)
    # Created but never confirmed: not a decision yet, not counted against coverage.
    await shop.paid(token, 700)

    coverage = (await client.get("/v1/risk/coverage")).json()
    assert (coverage["payments"], coverage["decided"], coverage["coverage"]) == (3, 3, 1.0)
    assert coverage["outcomes"] == {"approve": 3}

    decision = (await client.get(f"/v1/risk/decisions/{paid[-1]['id']}")).json()
    assert decision["outcome"] == "approve" and decision["rules_version"] == 0
    assert decision["features"]["customer.count_10m"] == 2
    assert decision["features"]["device.count_1h"] == 2
    listed = (await client.get("/v1/risk/decisions", params={"limit": 2})).json()
    assert [d["payment"] for d in listed["data"]] == [paid[2]["id"], paid[1]["id"]]
    assert listed["has_more"] is True


async def test_a_declined_payment_never_reaches_a_channel(
    client: httpx.AsyncClient, as_key: Any, db: Database, channels: dict[str, ChannelAdapter]
) -> None:
    published = await client.post("/v1/risk/rules", json={"definition": DECLINE_LARGE})
    assert published.status_code == 201 and published.json()["version"] == 1
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    payment = await shop.paid(token, 100_001)
    answer = await shop.me.post(f"/v1/payments/{payment['id']}/confirm")
    # Like a card decline: the payment answers, failed, with the reason.
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["failure_code"]) == ("failed", "risk_declined")
    assert await count_rows(db, "payment_attempts", "ledger_journals") == {
        "payment_attempts": 0,
        "ledger_journals": 0,
    }
    assert network(channels).charged_for_payment(payment["id"]) == 0
    assert await balance(db, f"merchant:{shop.merchant_id}:pending") is None
    decision = (await client.get(f"/v1/risk/decisions/{payment['id']}")).json()
    assert decision["outcome"] == "decline" and decision["fired"] == [
        {"rule": "too_large", "score": 100}
    ]
    # Below the line the same card pays.
    assert (await _confirmed(shop, token, 100_000))["status"] == "succeeded"


async def test_staged_rules_are_dry_run_then_activated_and_rolled_back(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    for amount in (50_000, 150_000, 250_000):
        assert (await _confirmed(shop, token, amount))["status"] == "succeeded"

    staged = await client.post(
        "/v1/risk/rules", json={"definition": DECLINE_LARGE, "activate": False, "note": "try"}
    )
    assert staged.status_code == 201 and staged.json()["active"] is False
    assert (await client.get("/v1/risk/rules")).json()["version"] == 0  # still the built-in

    run = (await client.post("/v1/risk/rules/dry_run", json={"version": 1})).json()
    assert run["replayed"] == 3 and run["changed"] == 2
    assert run["transitions"] == {"approve→approve": 1, "approve→decline": 2}
    assert run["fired"] == {"too_large": 2}
    assert {c["after"] for c in run["changes"]} == {"decline"}
    # A draft never published gives the same answer.
    draft = (await client.post("/v1/risk/rules/dry_run", json={"definition": DECLINE_LARGE})).json()
    assert draft["transitions"] == run["transitions"]

    assert (await client.post("/v1/risk/rules/1/activate")).json()["active"] is True
    blocked = await _confirmed(shop, token, 150_000)
    assert blocked["failure_code"] == "risk_declined"
    # Roll back to the built-in set: the same payment goes through.
    assert (await client.post("/v1/risk/rules/0/activate")).json()["version"] == 0
    assert (await _confirmed(shop, token, 150_000))["status"] == "succeeded"
    versions = (await client.get("/v1/risk/rules/versions")).json()["data"]
    assert [(v["version"], v["active"]) for v in versions] == [(1, False), (0, True)]


async def test_rule_changes_are_audited(client: httpx.AsyncClient) -> None:
    await client.post("/v1/risk/rules", json={"definition": DECLINE_LARGE, "note": "why"})
    await client.post("/v1/risk/rules/0/activate")
    actions = [
        e["action"]
        for e in (await client.get("/v1/audit/events", params={"limit": 10})).json()["data"]
    ]
    assert "risk_rules.published" in actions and "risk_rules.activated" in actions


@pytest.mark.parametrize(
    "body",
    [
        {"definition": {"rules": [], "review_at": 50}},
        {"definition": {**DECLINE_LARGE, "rules": [{"id": "x", "score": 5, "when": {}}]}},
        {"definition": DECLINE_LARGE, "note": "n" * 201},
        {"definition": DECLINE_LARGE, "surprise": True},
    ],
)
async def test_bad_rule_sets_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    answer = await client.post("/v1/risk/rules", json=body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "validation_error"
    versions = (await client.get("/v1/risk/rules/versions")).json()["data"]
    assert [v["version"] for v in versions] == [0]


async def test_unknown_versions_and_bad_requests(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/risk/rules/7/activate")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "risk_rules_not_found"
    assert (await client.get("/v1/risk/rules/7")).status_code == 404
    both = await client.post(
        "/v1/risk/rules/dry_run", json={"definition": DECLINE_LARGE, "version": 0}
    )
    assert both.status_code == 400
    too_big = 2**63  # past a BIGINT: refused before it reaches the database
    for answer in (
        await client.get(f"/v1/risk/rules/{too_big}"),
        await client.post(f"/v1/risk/rules/{too_big}/activate"),
        await client.post("/v1/risk/rules/dry_run", json={"version": too_big}),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "validation_error"
    bad_outcome = await client.get("/v1/risk/decisions", params={"outcome": "maybe"})
    assert bad_outcome.status_code == 400
    assert (await client.get("/v1/risk/decisions/pay_nothing")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"ip": "not-an-ip"},
        {"location": {"latitude": 91, "longitude": 0}},
        {"location": {"latitude": 10}},
        {"device_id": ""},
        {"device_id": "d" * 65},
    ],
)
async def test_bad_signals_are_refused_before_any_decision(
    client: httpx.AsyncClient, as_key: Any, db: Database, body: dict[str, Any]
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    payment = await shop.paid(token, 1_000)
    answer = await shop.me.post(f"/v1/payments/{payment['id']}/confirm", json=body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "validation_error"
    assert (await count_rows(db, "risk_decisions"))["risk_decisions"] == 0
    found = (await shop.me.get(f"/v1/payments/{payment['id']}")).json()
    assert found["status"] == "requires_confirmation"


async def test_risk_routes_are_for_compliance_and_operators_only(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    for path in ("/v1/risk/rules", "/v1/risk/decisions", "/v1/risk/coverage", "/v1/risk/features"):
        assert (await shop.me.get(path)).status_code == 403
    refused = await shop.me.post("/v1/risk/rules", json={"definition": DECLINE_LARGE})
    assert refused.status_code == 403
    officer = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="officer", role="operator", scopes=["compliance"])
    )
    compliance = as_key(officer.secret)
    assert (await compliance.get("/v1/risk/features")).status_code == 200
    published = await compliance.post("/v1/risk/rules", json={"definition": DECLINE_LARGE})
    assert published.status_code == 201


async def test_a_watch_list_match_sends_payments_to_review_and_a_confirmed_one_declines(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    await loaded(client, SAMPLE_CSV, name="payhub_sample")
    shop = await open_shop(client, as_key)
    listed = await shop.me.post("/v1/customers", json={"name": "Zhang Wei"})
    assert listed.status_code == 201  # onboarding screens; it does not refuse
    shop.customer_id = listed.json()["id"]
    token, _ = await shop.card("ICBC", "credit")
    first = await _confirmed(shop, token, 3_000)
    assert first["status"] == "succeeded"
    assert first["decision"]["risk"]["outcome"] == "review"
    assert {"rule": "sanctions_potential_match", "score": 50} in first["decision"]["risk"]["fired"]

    hits = (await client.get("/v1/sanctions/hits", params={"subject": shop.customer_id})).json()
    [hit] = hits["data"]
    confirmed = await client.post(
        f"/v1/sanctions/hits/{hit['id']}/confirm", json={"reason": "same passport"}
    )
    assert confirmed.status_code == 200, confirmed.text
    blocked = await _confirmed(shop, token, 3_000)
    assert blocked["failure_code"] == "risk_declined"
    decision = (await client.get(f"/v1/risk/decisions/{blocked['id']}")).json()
    assert decision["features"]["sanctions.customer"] == "confirmed"
    assert decision["features"]["sanctions.merchant"] == "none"


async def test_decisions_are_listed_by_the_rule_that_fired(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    # Two rules whose ids differ only where a LIKE wildcard would match either: the filter
    # must take the id literally.
    definition = {
        "rules": [
            {
                "id": "over_a",
                "description": "Over ¥50.",
                "score": 10,
                "when": {"feature": "amount", "op": ">", "value": 5_000},
            },
            {
                "id": "overxa",
                "description": "Over ¥80.",
                "score": 10,
                "when": {"feature": "amount", "op": ">", "value": 8_000},
            },
        ],
        "review_at": 50,
        "decline_at": 90,
    }
    assert (await client.post("/v1/risk/rules", json={"definition": definition})).status_code == 201
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("ICBC", "credit")
    small = await _confirmed(shop, token, 1_000)
    middle = [await _confirmed(shop, token, 6_000 + n) for n in range(3)]
    large = await _confirmed(shop, token, 9_000)

    ids: dict[str, str] = {}  # payment → its decision (the cursor names decisions)

    async def listed(rule: str, **params: Any) -> tuple[list[str], bool]:
        answer = await client.get("/v1/risk/decisions", params={"rule": rule, **params})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        ids.update({d["payment"]: d["id"] for d in page["data"]})
        return [d["payment"] for d in page["data"]], page["has_more"]

    assert await listed("over_a") == ([large["id"], *[m["id"] for m in reversed(middle)]], False)
    assert await listed("overxa") == ([large["id"]], False)
    assert await listed("over%") == ([], False)
    first, more = await listed("over_a", limit=2)
    assert first == [large["id"], middle[2]["id"]] and more is True
    rest, more = await listed("over_a", limit=2, starting_after=ids[first[-1]])
    assert rest == [middle[1]["id"], middle[0]["id"]] and more is False
    assert small["id"] not in first + rest
