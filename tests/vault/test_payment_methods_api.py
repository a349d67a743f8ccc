"""`/v1/payment_methods` through HTTP: tokens out, card numbers never."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from payhub.db.session import Database
from payhub.vault.testcards import test_card as make_card
from tests.merchants.helpers import create_merchant, merchant_key

# Cards stay valid through tests that move the clock a year or two ahead.
EXP_YEAR = datetime.now(UTC).year + 4


async def setup_merchant(client: httpx.AsyncClient, as_key: Any) -> tuple[Any, str, str]:
    merchant = await create_merchant(client)
    me = as_key(await merchant_key(client, merchant["id"]))
    customer = (await me.post("/v1/customers", json={"name": "王小明"})).json()
    return me, merchant["id"], customer["id"]


def card_body(pan: str, customer: str | None = None, **card: Any) -> dict[str, Any]:
    return {
        "type": "card",
        "customer": customer,
        "card": {"number": pan, "exp_month": 12, "exp_year": EXP_YEAR, **card},
    }


async def test_bind_a_card_and_read_it_masked(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    me, merchant_id, customer_id = await setup_merchant(client, as_key)
    pan = make_card("ICBC", "debit")
    made = await me.post(
        "/v1/payment_methods",
        json=card_body(pan, customer_id),
        headers={"Idempotency-Key": "bind-1"},
    )
    assert made.status_code == 201, made.text
    method = made.json()
    assert method["object"] == "payment_method" and method["id"].startswith("card_")
    assert (method["merchant"], method["customer"]) == (merchant_id, customer_id)
    card = method["card"]
    assert (card["first6"], card["last4"]) == (pan[:6], pan[-4:])
    assert card["issuer"]["code"] == "ICBC" and card["card_type"] == "debit"
    assert pan not in made.text

    again = await me.post("/v1/payment_methods", json=card_body(pan, customer_id))
    assert again.status_code == 200 and again.json()["id"] == method["id"]
    shown = await me.get(f"/v1/payment_methods/{method['id']}")
    assert shown.json() == method
    assert (await client.get(f"/v1/payment_methods/{method['id']}")).json() == method

    # The number is nowhere outside the vault's ciphertext: not in the idempotency record
    # (its fingerprint is keyed), not in any other table.
    async with db.engine.connect() as conn:
        for table in ("idempotency_keys", "customers", "merchants", "api_keys", "events"):
            rows = (await conn.exec_driver_sql(f"SELECT * FROM {table}")).all()
            assert pan not in repr(rows), table
            assert pan[-10:] not in repr(rows), table


async def test_other_merchants_cannot_see_or_use(client: httpx.AsyncClient, as_key: Any) -> None:
    me, _, _ = await setup_merchant(client, as_key)
    them, _, their_customer = await setup_merchant(client, as_key)
    method = (
        await me.post("/v1/payment_methods", json=card_body(make_card("CMB", "credit")))
    ).json()
    hidden = await them.get(f"/v1/payment_methods/{method['id']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "payment_method_not_found"
    foreign = await me.post(
        "/v1/payment_methods", json=card_body(make_card("CMB", "credit"), their_customer)
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "customer_not_found"


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ({"number": "6222021234567890"}, "card_number_invalid", 400),
        ({"number": "4111 1111 1111 1111"}, "card_bin_unknown", 400),
        ({"exp_year": 2020}, "card_expired", 402),
        ({"exp_month": 13}, "card_expiry_invalid", 400),
        ({"cvc": "123"}, "validation_error", 400),
    ],
)
async def test_bad_cards_are_refused_and_not_echoed(
    client: httpx.AsyncClient, as_key: Any, change: dict[str, Any], code: str, status: int
) -> None:
    me, _, customer_id = await setup_merchant(client, as_key)
    pan = make_card("BOC", "debit")
    body = card_body(pan, customer_id)
    body["card"].update(change)
    response = await me.post("/v1/payment_methods", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    number = str(body["card"]["number"]).replace(" ", "")
    assert number not in response.text and "123" not in response.json()["error"]["message"]


async def test_bank_accounts(client: httpx.AsyncClient, as_key: Any) -> None:
    me, merchant_id, _ = await setup_merchant(client, as_key)
    made = await me.post(
        "/v1/payment_methods",
        json={
            "type": "bank_account",
            "owner": "supplier-17",
            "bank_account": {
                "bank_code": "PARTNER",
                "account_number": "6232081234567890123",
                "holder_name": "李四",
            },
        },
    )
    assert made.status_code == 201, made.text
    account = made.json()
    assert account["id"].startswith("ba_") and account["merchant"] == merchant_id
    assert account["bank_account"]["last4"] == "0123"
    assert account["bank_account"]["owner"] == "supplier-17"
    assert "6232081234567890123" not in made.text
    shown = await client.get(f"/v1/payment_methods/{account['id']}")
    assert shown.json() == account
    mismatch = await me.post(
        "/v1/payment_methods",
        json={"type": "bank_account", "card": {"number": "1", "exp_month": 1, "exp_year": 1}},
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["param"] == "bank_account"
