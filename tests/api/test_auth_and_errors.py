"""API keys, the error shape outside the ledger's own errors, request ids, health and OpenAPI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from payhub.auth import service as auth
from payhub.core import clock
from payhub.core.errors import CATALOGUE
from payhub.db.session import Database
from tests.api.helpers import LEDGER, assert_error, journal_ids, open_account, transfer

ACCOUNTS = f"{LEDGER}/accounts"


async def issue(
    db: Database,
    *,
    role: str = "operator",
    scopes: list[str] | None = None,
    merchant_id: str | None = None,
    expires_at: datetime | None = None,
) -> auth.IssuedKey:
    return await db.run_in_transaction(
        lambda s: auth.issue_key(
            s,
            name="test",
            role=role,
            scopes=auth.OPERATOR_SCOPES if scopes is None else scopes,
            merchant_id=merchant_id,
            expires_at=expires_at,
        )
    )


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
        pytest.param({"Authorization": "Bearer   "}, id="blank-key"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-auth"),
    ],
)
async def test_missing_key(anonymous: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await anonymous.get(ACCOUNTS, headers=headers)
    error = assert_error(response, 401, "api_key_missing", param=None)
    assert error["type"] == "authentication"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/accounts"),
        ("POST", "/accounts"),
        ("GET", "/accounts/bank:custody/balance"),
        ("POST", "/journals"),
        ("POST", "/journals/batch"),
        ("GET", "/journals"),
        ("POST", "/holds"),
        ("POST", "/holds/h-1/void"),
    ],
)
async def test_every_ledger_route_needs_a_key(
    anonymous: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anonymous.request(method, f"{LEDGER}{path}", json={})
    assert_error(response, 401, "api_key_missing")


async def test_wrong_key(anonymous: httpx.AsyncClient, operator_key: str) -> None:
    for secret in ("sk_op_not-a-real-key", operator_key + "x", operator_key.upper()):
        response = await anonymous.get(ACCOUNTS, headers=bearer(secret))
        assert_error(response, 401, "api_key_invalid")
    # The scheme is case-insensitive; the key is what decides.
    ok = await anonymous.get(ACCOUNTS, headers={"Authorization": f"bearer {operator_key}"})
    assert ok.status_code == 200


async def test_revoked_key_fails_on_the_next_request(
    anonymous: httpx.AsyncClient, db: Database
) -> None:
    key = await issue(db)
    assert (await anonymous.get(ACCOUNTS, headers=bearer(key.secret))).status_code == 200
    await db.run_in_transaction(lambda s: auth.revoke_key(s, key.id))
    response = await anonymous.get(ACCOUNTS, headers=bearer(key.secret))
    assert_error(response, 401, "api_key_invalid")
    write = await anonymous.post(
        ACCOUNTS,
        json={"code": "x", "currency": "CNY", "normal_side": "credit"},
        headers=bearer(key.secret),
    )
    assert_error(write, 401, "api_key_invalid")


async def test_revoking_one_key_leaves_the_others(client: httpx.AsyncClient, db: Database) -> None:
    key = await issue(db)
    await db.run_in_transaction(lambda s: auth.revoke_key(s, key.id))
    assert (await client.get(ACCOUNTS)).status_code == 200


async def test_expired_key(anonymous: httpx.AsyncClient, db: Database) -> None:
    expired = await issue(db, expires_at=clock.now() - timedelta(seconds=1))
    assert_error(
        await anonymous.get(ACCOUNTS, headers=bearer(expired.secret)), 401, "api_key_invalid"
    )


async def test_key_stops_working_when_it_expires(
    anonymous: httpx.AsyncClient, db: Database
) -> None:
    start = clock.now()
    key = await issue(db, expires_at=start + timedelta(hours=1))
    with clock.use_clock(clock.FrozenClock(start + timedelta(minutes=59))):
        assert (await anonymous.get(ACCOUNTS, headers=bearer(key.secret))).status_code == 200
    with clock.use_clock(clock.FrozenClock(start + timedelta(hours=1))):
        response = await anonymous.get(ACCOUNTS, headers=bearer(key.secret))
        assert_error(response, 401, "api_key_invalid")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/accounts", None),
        ("POST", "/accounts", {"code": "m:1", "currency": "CNY", "normal_side": "credit"}),
        ("GET", "/accounts/bank:custody", None),
        ("POST", "/journals", transfer("bank:custody", "m:1", 1)),
        ("GET", "/journals", None),
        ("POST", "/holds", transfer("bank:custody", "m:1", 1)),
    ],
)
async def test_merchant_key_may_not_use_the_ledger(
    anonymous: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    await open_account(client, "bank:custody", side="debit")
    merchant = await issue(db, role="merchant", scopes=["read", "write"], merchant_id="mer_1")
    response = await anonymous.request(
        method, f"{LEDGER}{path}", json=body, headers=bearer(merchant.secret)
    )
    error = assert_error(response, 403, "permission_denied", param=None)
    assert error["type"] == "permission"
    assert "operator" in error["message"]
    listed = await client.get(ACCOUNTS)
    assert [a["code"] for a in listed.json()["data"]] == ["bank:custody"]
    assert await journal_ids(client) == []


async def test_operator_role_without_operator_scope(
    anonymous: httpx.AsyncClient, db: Database
) -> None:
    reader = await issue(db, scopes=["read"])
    response = await anonymous.get(ACCOUNTS, headers=bearer(reader.secret))
    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/nope", "/v1/ledger/nope", "/v2/ledger/accounts", "/"])
async def test_unknown_route(anonymous: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anonymous.request(method, path)
    error = assert_error(response, 404, "route_not_found", param=None)
    assert error["message"] == f"No route matches {method} {path}."


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"{LEDGER}/accounts"),
        ("PUT", f"{LEDGER}/journals"),
        ("PATCH", f"{LEDGER}/accounts/bank:custody"),
        ("GET", f"{LEDGER}/holds/h-1/post"),
        ("DELETE", f"{LEDGER}/holds"),
        ("POST", "/healthz"),
    ],
)
async def test_wrong_method(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    error = assert_error(response, 405, "method_not_allowed", param=None)
    assert error["message"] == f"{method} is not allowed on {path}."


async def test_wrong_method_says_what_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"{LEDGER}/holds/h-1/void")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_chinese_messages(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    zh = {"Accept-Language": "zh-CN"}
    missing = await anonymous.get(ACCOUNTS, headers=zh)
    error = assert_error(missing, 401, "api_key_missing")
    assert error["message"] == CATALOGUE["api_key_missing"].message_zh
    assert missing.headers["content-language"] == "zh-CN"

    not_found = await client.get(f"{LEDGER}/journals/nope", headers=zh)
    assert assert_error(not_found, 404, "journal_not_found")["message"] == "分录不存在:nope。"
    assert not_found.headers["content-language"] == "zh-CN"

    invalid = await client.post(
        f"{LEDGER}/journals", content=b"{", headers={**zh, "content-type": "application/json"}
    )
    assert assert_error(invalid, 400, "malformed_json")["message"] == "请求体不是合法的 JSON。"

    # A batch item's error follows the request's language too.
    batch = await client.post(
        f"{LEDGER}/journals/batch",
        json={"journals": [transfer("nobody:a", "nobody:b", 1)]},
        headers=zh,
    )
    assert batch.json()["results"][0]["error"]["message"] == "账户不存在:nobody:a (CNY)。"

    # Preference order decides; English is the default.
    prefers_en = await anonymous.get(ACCOUNTS, headers={"Accept-Language": "zh;q=0.5, en"})
    assert prefers_en.json()["error"]["message"] == CATALOGUE["api_key_missing"].message_en
    assert prefers_en.headers["content-language"] == "en"
    default = await anonymous.get(ACCOUNTS)
    assert default.headers["content-language"] == "en"
    assert default.json()["error"]["message"].startswith("No API key was given.")


async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    responses = [
        await anonymous.get("/healthz"),
        await anonymous.get("/openapi.json"),
        await client.get(ACCOUNTS),
        await client.post(ACCOUNTS, json={"code": "a", "currency": "CNY", "normal_side": "debit"}),
        await anonymous.get(ACCOUNTS),
        await client.get("/nope"),
        await client.delete(ACCOUNTS),
        await client.post(f"{LEDGER}/journals", content=b"x" * 1_000_001),
        await client.get(f"{LEDGER}/journals/nope"),
    ]
    seen = set()
    for response in responses:
        request_id = response.headers["request-id"]
        assert request_id.startswith("req_")
        seen.add(request_id)
        if response.status_code >= 400:
            assert response.json()["error"]["request_id"] == request_id
    assert len(seen) == len(responses)
    assert [r.status_code for r in responses] == [200, 200, 200, 201, 401, 404, 405, 413, 404]


async def test_healthz_without_a_key(anonymous: httpx.AsyncClient, db: Database) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == db.dialect
    assert isinstance(body["version"], str) and body["version"]


async def test_openapi_lists_the_ledger(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "PayHub"
    paths = {path: set(ops) for path, ops in document["paths"].items()}
    expected = {
        "/v1/ledger/accounts": {"get", "post"},
        "/v1/ledger/accounts/{account}": {"get", "post"},
        "/v1/ledger/accounts/{account}/balance": {"get"},
        "/v1/ledger/accounts/{account}/entries": {"get"},
        "/v1/ledger/journals": {"get", "post"},
        "/v1/ledger/journals/batch": {"post"},
        "/v1/ledger/journals/{journal_id}": {"get"},
        "/v1/ledger/journals/{journal_id}/reverse": {"post"},
        "/v1/ledger/holds": {"get", "post"},
        "/v1/ledger/holds/{hold_id}": {"get"},
        "/v1/ledger/holds/{hold_id}/post": {"post"},
        "/v1/ledger/holds/{hold_id}/void": {"post"},
    }
    for path, methods in expected.items():
        assert paths.get(path) == methods, path
    post_journal = document["paths"]["/v1/ledger/journals"]["post"]
    assert {"200", "201"} <= set(post_journal["responses"])
