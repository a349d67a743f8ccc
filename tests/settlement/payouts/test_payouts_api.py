"""The payout API: payees bound and verified, withdrawals, listings; and the isolation of
one merchant's payouts from another's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner

from payhub.db.session import Database
from tests.merchants.helpers import create_merchant, merchant_key
from tests.settlement.payouts.helpers import balance, fund


async def _merchant_with_account(
    client: httpx.AsyncClient, as_key: Callable[[str], httpx.AsyncClient], name: str
) -> tuple[str, httpx.AsyncClient, str]:
    merchant = await create_merchant(client, name=name)
    me = as_key(await merchant_key(client, merchant["id"]))
    account = await me.post(
        "/v1/payment_methods",
        json={
            "type": "bank_account",
            "bank_account": {
                "bank_code": "CMB",
                "account_number": "6214 8300 1234 5678",
                "holder_name": name,
            },
        },
    )
    assert account.status_code == 201, account.text
    return merchant["id"], me, account.json()["id"]


async def test_a_merchant_binds_verifies_and_withdraws(
    db: Database, client: httpx.AsyncClient, as_key: Callable[[str], httpx.AsyncClient]
) -> None:
    merchant_id, me, account = await _merchant_with_account(client, as_key, "Tea House")
    made = await me.post("/v1/payees", json={"bank_account": account, "role": "supplier"})
    assert made.status_code == 201, made.text
    payee = made.json()
    assert payee["status"] == "unverified" and payee["screening"] == "clear"
    assert payee["last4"] == "5678" and "6214" not in made.text

    # Unverified: no payout.
    refused = await me.post(
        "/v1/payouts", json={"amount": 100, "currency": "CNY", "destination": payee["id"]}
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payee_not_verified"

    # A merchant may not vouch for itself; a penny drop proves the account.
    denied = await me.post(f"/v1/payees/{payee['id']}/verify", json={"method": "operator"})
    assert denied.status_code == 403, denied.text
    verified = await me.post(f"/v1/payees/{payee['id']}/verify", json={"method": "penny_drop"})
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"
    assert verified.json()["verified_by"] == "penny_drop"
    assert await balance(db, "platform:fees") == -1  # the penny drop's cost

    await fund(db, merchant_id, 50_000)
    body = {"amount": 12_345, "currency": "CNY", "destination": account, "instant": True}
    paid = await me.post("/v1/payouts", json=body, headers={"Idempotency-Key": "wd-1"})
    assert paid.status_code == 201, paid.text
    payout = paid.json()
    assert payout["status"] == "paid" and payout["rail"] == "ibps" and payout["fee"] > 0
    again = await me.post("/v1/payouts", json=body, headers={"Idempotency-Key": "wd-1"})
    assert again.json() == payout and again.headers.get("Idempotent-Replayed") == "true"

    standard = await me.post(
        "/v1/payouts", json={"amount": 1_000, "currency": "CNY", "destination": payee["id"]}
    )
    assert standard.status_code == 202 and standard.json()["status"] == "pending"

    listed = await me.get("/v1/payouts", params={"status": "paid"})
    assert [p["id"] for p in listed.json()["data"]] == [payout["id"]]
    one = await me.get(f"/v1/payouts/{payout['id']}")
    assert one.status_code == 200 and one.json()["amount"] == 12_345

    # Another merchant sees none of it.
    _, other, _ = await _merchant_with_account(client, as_key, "Rival Tea")
    hidden = await other.get(f"/v1/payouts/{payout['id']}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "payout_not_found"
    assert (await other.get("/v1/payouts")).json()["data"] == []
    stolen = await other.post(
        "/v1/payouts", json={"amount": 100, "currency": "CNY", "destination": payee["id"]}
    )
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "payee_not_found"


async def test_the_cli_withdraws_and_lists(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from payhub.cli import app
    from payhub.core.config import reset_settings_cache
    from tests.settlement.payouts.helpers import open_party

    shop = await open_party(db, "Cli Shop", funds=9_000)
    monkeypatch.setenv("PAYHUB_DATABASE_URL", db.url)
    reset_settings_cache()

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        return result.output

    try:
        created = await asyncio.to_thread(
            invoke, "payouts", "create", "--merchant", shop.merchant_id,
            "--destination", shop.payee_id, "--amount", "5000", "--instant",
        )  # fmt: skip
        listed = await asyncio.to_thread(invoke, "payouts", "list", "--status", "paid")
        payees = await asyncio.to_thread(invoke, "payees", "list")
    finally:
        reset_settings_cache()
    assert "paid" in created and "ibps" in created
    assert shop.merchant_id in listed.replace("\n", "") or "po_" in listed
    assert shop.payee_id in payees
    assert await balance(db, f"merchant:{shop.merchant_id}:available") == 9_000 - 5_000 - 105
