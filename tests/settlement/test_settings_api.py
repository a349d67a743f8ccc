"""Settlement settings: operators change them (audited), merchants read their own, and
bad input is refused with a catalogue error, writing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from payhub.db.session import Database
from tests.payments.helpers import count_rows
from tests.settlement.helpers import open_merchant

TABLES = ("settlement_settings", "settlement_entries", "audit_events", "ledger_journals")


async def test_defaults_then_a_change_that_is_audited(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_merchant(client, as_key)
    mine = await shop.shop.me.get(f"/v1/settlement_settings/{shop.id}")
    assert mine.status_code == 200, mine.text
    assert {k: mine.json()[k] for k in ("mode", "cutoff", "reserve_bps", "version")} == {
        "mode": "t1",
        "cutoff": "23:00",
        "reserve_bps": 0,
        "version": 0,
    }
    changed = await shop.configure(mode="realtime", reserve_bps=250, reserve_days=30)
    assert (changed["mode"], changed["reserve_bps"], changed["version"]) == ("realtime", 250, 1)
    again = await shop.configure(cutoff="22:30")
    assert (again["mode"], again["cutoff"], again["version"]) == ("realtime", "22:30", 2)
    audit = (await client.get("/v1/audit/events", params={"limit": 100})).json()["data"]
    changes = [e for e in audit if e["action"] == "settlement settings changed"]
    assert changes[0]["details"]["before"]["cutoff"] == "23:00"
    assert changes[0]["details"]["after"]["cutoff"] == "22:30"
    # A merchant's key cannot change its own settings.
    refused = await shop.shop.me.post(f"/v1/settlement_settings/{shop.id}", json={"mode": "t1"})
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"mode": "weekly"}, "settlement_setting_invalid", "mode"),
        ({"cutoff": "24:00"}, "settlement_setting_invalid", "cutoff"),
        ({"cutoff": "9:00"}, "settlement_setting_invalid", "cutoff"),
        ({"reserve_bps": -1, "reserve_days": 3}, "settlement_setting_invalid", "reserve_bps"),
        ({"reserve_bps": 10_001, "reserve_days": 3}, "settlement_setting_invalid", "reserve_bps"),
        ({"reserve_bps": 100}, "settlement_setting_invalid", "reserve_days"),
        ({"reserve_days": 366}, "settlement_setting_invalid", "reserve_days"),
        ({"calendar": "XX"}, "calendar_unknown", "calendar"),
        ({"reserve_bps": "100"}, "validation_error", "reserve_bps"),
        ({"mode": "realtime", "speed": "fast"}, "validation_error", "speed"),
    ],
)
async def test_bad_settings_write_nothing(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    body: dict[str, Any],
    code: str,
    param: str,
) -> None:
    shop = await open_merchant(client, as_key, mode="realtime")
    before = await count_rows(db, *TABLES[:2], TABLES[3])
    answer = await client.post(
        f"/v1/settlement_settings/{shop.id}", json=body, headers={"Accept-Language": "zh-CN"}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert await count_rows(db, *TABLES[:2], TABLES[3]) == before
    unchanged = (await client.get(f"/v1/settlement_settings/{shop.id}")).json()
    assert (unchanged["mode"], unchanged["version"]) == ("realtime", 1)


async def test_unknown_merchant(client: httpx.AsyncClient, db: Database) -> None:
    missing = "mer_01M97DC3WE0MD7H9ACKEA220F5"
    answer = await client.post(f"/v1/settlement_settings/{missing}", json={"mode": "t1"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "merchant_not_found"
    assert (await count_rows(db, "settlement_settings"))["settlement_settings"] == 0


async def test_balances_need_a_merchant_for_the_operator(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_merchant(client, as_key)
    answer = await client.get("/v1/balances")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "merchant"
    named = await client.get("/v1/balances", params={"merchant": shop.id})
    assert named.status_code == 200 and named.json() == {
        "object": "list",
        "merchant": shop.id,
        "data": [],
    }
    await shop.capture(1_000)
    line = (await client.get("/v1/balances", params={"merchant": shop.id})).json()["data"]
    assert line == [
        {
            "object": "balance",
            "currency": "CNY",
            "pending": 1_000,
            "available": 0,
            "reserved": 0,
            "in_transit": 0,
        }
    ]


async def test_in_transit_is_the_open_holds_on_available(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_merchant(client, as_key, mode="realtime")
    await shop.capture(5_000)
    hold = {
        "id": f"payout-hold-{shop.id}",
        "postings": [
            {"account": f"merchant:{shop.id}:available", "side": "debit", "amount": 2_000,
             "currency": "CNY"},
            {"account": "payout:ibps:in_transit", "side": "credit", "amount": 2_000,
             "currency": "CNY"},
        ],
    }  # fmt: skip
    opened = await client.post(
        "/v1/ledger/accounts",
        json={"code": "payout:ibps:in_transit", "currency": "CNY", "normal_side": "credit"},
    )
    assert opened.status_code == 201, opened.text
    held = await client.post("/v1/ledger/holds", json=hold)
    assert held.status_code == 201, held.text
    assert await shop.balances() == {
        "pending": 0, "available": 3_000, "reserved": 0, "in_transit": 2_000
    }  # fmt: skip
