"""Merchants, customers and merchant keys through HTTP, including who may see what."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from payhub.db.session import Database
from tests.merchants.helpers import create_merchant, merchant_key


async def test_operator_creates_and_lists_merchants(client: httpx.AsyncClient) -> None:
    made = await create_merchant(
        client,
        legal_name="上海面馆有限公司",
        per_payment_limit=500_000,
        daily_limit=5_000_000,
        metadata={"city": "Shanghai"},
    )
    assert made["object"] == "merchant"
    assert made["id"].startswith("mer_")
    assert made["status"] == "active"
    assert made["currency"] == "CNY"
    assert (made["per_payment_limit"], made["daily_limit"]) == (500_000, 5_000_000)
    assert made["fee_plan"] is None
    assert made["created_at"].endswith("Z")
    other = await create_merchant(client, name="Fruit Importer")

    listed = (await client.get("/v1/merchants")).json()
    assert [m["id"] for m in listed["data"]] == [other["id"], made["id"]]
    page = (await client.get("/v1/merchants", params={"limit": 1})).json()
    assert page["has_more"] is True
    rest = (
        await client.get("/v1/merchants", params={"starting_after": page["data"][0]["id"]})
    ).json()
    assert [m["id"] for m in rest["data"]] == [made["id"]]
    assert (await client.get(f"/v1/merchants/{made['id']}")).json() == made


async def test_update_merchant_limits_and_suspend(client: httpx.AsyncClient) -> None:
    made = await create_merchant(client, per_payment_limit=1000, daily_limit=10_000)
    changed = await client.post(
        f"/v1/merchants/{made['id']}", json={"per_payment_limit": None, "status": "suspended"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["per_payment_limit"], body["daily_limit"], body["status"]) == (
        None,
        10_000,
        "suspended",
    )
    # A suspended merchant cannot gain customers or keys.
    refused = await client.post("/v1/customers", json={"merchant": made["id"], "name": "Li Lei"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "merchant_suspended"
    refused_key = await client.post(f"/v1/merchants/{made['id']}/api_keys", json={"name": "x"})
    assert refused_key.json()["error"]["code"] == "merchant_suspended"


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"currency": "XYZ"}, "currency_invalid", "currency"),
        ({"per_payment_limit": 0}, "amount_invalid", "per_payment_limit"),
        ({"daily_limit": -5}, "amount_invalid", "daily_limit"),
        ({"per_payment_limit": 2**63}, "amount_too_large", "per_payment_limit"),
        ({"per_payment_limit": 10, "daily_limit": 5}, "validation_error", "per_payment_limit"),
        ({"name": ""}, "validation_error", "name"),
        ({"per_payment_limit": 1.5}, "validation_error", "per_payment_limit"),
        ({"unknown": 1}, "validation_error", "unknown"),
    ],
)
async def test_bad_merchants_are_refused(
    client: httpx.AsyncClient, fields: dict[str, Any], code: str, param: str
) -> None:
    response = await client.post("/v1/merchants", json={"name": "Shop", **fields})
    assert response.status_code in (400, 422) or response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert (await client.get("/v1/merchants")).json()["data"] == []


async def test_merchant_key_sees_only_its_own(client: httpx.AsyncClient, as_key: Any) -> None:
    mine = await create_merchant(client, name="Mine")
    theirs = await create_merchant(client, name="Theirs")
    me = as_key(await merchant_key(client, mine["id"]))
    them = as_key(await merchant_key(client, theirs["id"]))

    own_customer = await me.post(
        "/v1/customers",
        json={"name": "王小明", "phone": "+8613800138000", "home_region": "CN-SH"},
    )
    assert own_customer.status_code == 201, own_customer.text
    customer = own_customer.json()
    assert customer["merchant"] == mine["id"]
    assert customer["home_region"] == "CN-SH"
    their_customer = (await them.post("/v1/customers", json={"name": "Li Lei"})).json()

    assert (await me.get(f"/v1/merchants/{mine['id']}")).status_code == 200
    for path in (
        f"/v1/merchants/{theirs['id']}",
        f"/v1/customers/{their_customer['id']}",
    ):
        response = await me.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] in ("merchant_not_found", "customer_not_found")
    listed = (await me.get("/v1/customers")).json()
    assert [c["id"] for c in listed["data"]] == [customer["id"]]
    # Naming another merchant when creating is refused the same way.
    sneaky = await me.post("/v1/customers", json={"merchant": theirs["id"], "name": "X"})
    assert sneaky.status_code == 404
    assert sneaky.json()["error"]["code"] == "merchant_not_found"
    # The operator sees everyone's.
    everyone = (await client.get("/v1/customers")).json()
    assert {c["id"] for c in everyone["data"]} == {customer["id"], their_customer["id"]}


async def test_merchant_keys_cannot_use_operator_routes(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    mine = await create_merchant(client)
    me = as_key(await merchant_key(client, mine["id"]))
    for method, path in (
        ("POST", "/v1/merchants"),
        ("GET", "/v1/merchants"),
        ("POST", f"/v1/merchants/{mine['id']}"),
        ("POST", f"/v1/merchants/{mine['id']}/api_keys"),
        ("GET", "/v1/ledger/accounts"),
    ):
        response = await me.request(method, path, json={"name": "x"})
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "permission_denied"


async def test_key_lifecycle_and_secret_shown_once(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    mine = await create_merchant(client)
    first = await client.post(
        f"/v1/merchants/{mine['id']}/api_keys",
        json={"name": "checkout", "scopes": ["read"]},
        headers={"Idempotency-Key": "key-1"},
    )
    assert first.status_code == 201
    key = first.json()
    assert key["scopes"] == ["read"] and key["secret"]
    # A replay says which key was made but never shows the secret again, and the stored
    # response does not hold it either.
    replay = await client.post(
        f"/v1/merchants/{mine['id']}/api_keys",
        json={"name": "checkout", "scopes": ["read"]},
        headers={"Idempotency-Key": "key-1"},
    )
    assert replay.status_code == 201
    assert replay.json() == {**key, "secret": None}
    async with db.engine.connect() as conn:
        stored = (await conn.exec_driver_sql("SELECT response_body FROM idempotency_keys")).all()
    assert stored and all(key["secret"] not in row[0] for row in stored)

    listed = (await client.get(f"/v1/merchants/{mine['id']}/api_keys")).json()["data"]
    assert [(k["id"], k["secret"]) for k in listed] == [(key["id"], None)]

    reader = as_key(key["secret"])
    assert (await reader.get("/v1/customers")).status_code == 200
    # read scope only: writing is refused.
    write = await reader.post("/v1/customers", json={"name": "x"})
    assert write.status_code == 403
    revoked = await client.post(f"/v1/merchants/{mine['id']}/api_keys/{key['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"].endswith("Z")
    after = await reader.get("/v1/customers")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "api_key_invalid"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"phone": "13800138000"}, "phone"),
        ({"phone": "+86 138"}, "phone"),
        ({"home_region": "shanghai"}, "home_region"),
        ({"email": "not-an-address"}, "email"),
        ({"name": ""}, "name"),
    ],
)
async def test_bad_customers_are_refused(
    client: httpx.AsyncClient, fields: dict[str, Any], param: str
) -> None:
    mine = await create_merchant(client)
    response = await client.post(
        "/v1/customers", json={"merchant": mine["id"], "name": "Li Lei", **fields}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert (await client.get("/v1/customers")).json()["data"] == []


async def test_operator_must_name_the_merchant_and_ids_are_checked(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.post("/v1/customers", json={"name": "Li Lei"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "merchant"
    bad = await client.get("/v1/customers/cus_nope")
    assert bad.json()["error"]["code"] == "invalid_id"
    unknown = await client.post(
        "/v1/customers", json={"merchant": "mer_01M8900000000000000000000A", "name": "x"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "merchant_not_found"
