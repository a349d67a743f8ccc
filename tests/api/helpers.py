"""Small HTTP helpers shared by the API tests."""

from __future__ import annotations

import re
from typing import Any

import httpx

from payhub.core.errors import CATALOGUE

LEDGER = "/v1/ledger"
MAX = 2**63 - 1
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
ERROR_KEYS = {"code", "type", "message", "param", "retryable", "request_id"}


def posting(account: str, side: str, amount: Any, currency: str = "CNY") -> dict[str, Any]:
    return {"account": account, "side": side, "amount": amount, "currency": currency}


def transfer(
    source: str, target: str, amount: Any, *, currency: str = "CNY", **fields: Any
) -> dict[str, Any]:
    """A journal body moving `amount` from `source` (debited) to `target` (credited)."""
    return {
        **fields,
        "postings": [
            posting(source, "debit", amount, currency),
            posting(target, "credit", amount, currency),
        ],
    }


async def open_account(
    client: httpx.AsyncClient,
    code: str,
    *,
    currency: str = "CNY",
    side: str = "credit",
    no_overdraft: bool = False,
    shards: int = 1,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "code": code,
        "currency": currency,
        "normal_side": side,
        "flags": {"debits_must_not_exceed_credits": no_overdraft},
        "shards": shards,
        **fields,
    }
    response = await client.post(f"{LEDGER}/accounts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def post_journal(
    client: httpx.AsyncClient, body: dict[str, Any], *, status: int = 201
) -> dict[str, Any]:
    response = await client.post(f"{LEDGER}/journals", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def balance(client: httpx.AsyncClient, account: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{LEDGER}/accounts/{account}/balance", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def entries(client: httpx.AsyncClient, account: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        f"{LEDGER}/accounts/{account}/entries", params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def journal_ids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get(f"{LEDGER}/journals", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [j["id"] for j in response.json()["data"]]


async def ledger_state(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything a bad request must leave alone: accounts, their balances, the journals."""
    response = await client.get(f"{LEDGER}/accounts", params={"limit": 100})
    assert response.status_code == 200, response.text
    accounts = response.json()["data"]
    balances = {a["id"]: await balance(client, a["id"]) for a in accounts}
    return {"accounts": accounts, "balances": balances, "journals": await journal_ids(client)}


async def assert_journal_absent(client: httpx.AsyncClient, journal_id: str) -> None:
    response = await client.get(f"{LEDGER}/journals/{journal_id}")
    assert_error(response, 404, "journal_not_found")


def assert_error(
    response: httpx.Response, status: int, code: str, *, param: Any = ...
) -> dict[str, Any]:
    """The catalogue's JSON error shape with this status and code (and param, if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    spec = CATALOGUE[code]
    assert error["code"] == code, error
    assert spec.status == status
    assert error["type"] == spec.type.value
    assert error["retryable"] is spec.retryable
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["request-id"]
    assert error["request_id"].startswith("req_")
    if param is not ...:
        assert error["param"] == param, error
    return error


def assert_timestamp(value: Any) -> None:
    assert isinstance(value, str) and RFC3339_Z.match(value), value


def assert_money(value: Any) -> None:
    assert type(value) is int, value
