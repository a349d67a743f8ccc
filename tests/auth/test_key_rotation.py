"""Platform keys and key rolling: a rolled key keeps working for its overlap, then stops;
scopes carry over; only platform keys hold platform scopes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from payhub.core import clock
from payhub.db.session import Database
from tests.api.helpers import assert_error
from tests.merchants.helpers import create_merchant


async def _merchant_key(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    merchant = await create_merchant(client)
    made = await client.post(
        f"/v1/merchants/{merchant['id']}/api_keys",
        json={"name": "till", "scopes": ["read", "write"]},
    )
    assert made.status_code == 201, made.text
    return merchant["id"], made.json()


async def test_a_rolled_key_works_through_the_overlap_then_stops(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    merchant_id, old = await _merchant_key(client)
    start = clock.now()
    rolled = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys/{old['id']}/roll", json={"overlap_seconds": 3600}
    )
    assert rolled.status_code == 201, rolled.text
    new = rolled.json()
    assert new["secret"].startswith("sk_mer_") and new["id"] != old["id"]
    assert (new["scopes"], new["merchant"], new["role"]) == (
        ["read", "write"],
        merchant_id,
        "merchant",
    )
    with clock.use_clock(clock.FrozenClock(start + timedelta(minutes=59))):
        for secret in (old["secret"], new["secret"]):
            assert (await as_key(secret).get("/v1/customers")).status_code == 200
    with clock.use_clock(clock.FrozenClock(start + timedelta(hours=1, seconds=1))):
        assert_error(await as_key(old["secret"]).get("/v1/customers"), 401, "api_key_invalid")
        assert (await as_key(new["secret"]).get("/v1/customers")).status_code == 200
    shown = (await client.get(f"/v1/merchants/{merchant_id}/api_keys")).json()["data"]
    assert all(k.get("secret") is None for k in shown)


async def test_an_overlap_of_zero_retires_the_old_key_at_once(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    merchant_id, old = await _merchant_key(client)
    rolled = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys/{old['id']}/roll", json={"overlap_seconds": 0}
    )
    assert rolled.status_code == 201
    assert_error(await as_key(old["secret"]).get("/v1/customers"), 401, "api_key_invalid")
    assert (await as_key(rolled.json()["secret"]).get("/v1/customers")).status_code == 200


@pytest.mark.parametrize("overlap", [-1, 30 * 86_400 + 1, "soon"])
async def test_bad_overlaps_are_refused(client: httpx.AsyncClient, overlap: Any) -> None:
    merchant_id, old = await _merchant_key(client)
    answer = await client.post(
        f"/v1/merchants/{merchant_id}/api_keys/{old['id']}/roll", json={"overlap_seconds": overlap}
    )
    assert_error(answer, 400, "validation_error")
    keys = (await client.get(f"/v1/merchants/{merchant_id}/api_keys")).json()["data"]
    assert [k["id"] for k in keys] == [old["id"]] and keys[0]["expires_at"] is None


async def test_a_revoked_key_cannot_be_rolled(client: httpx.AsyncClient) -> None:
    merchant_id, old = await _merchant_key(client)
    await client.post(f"/v1/merchants/{merchant_id}/api_keys/{old['id']}/revoke")
    answer = await client.post(f"/v1/merchants/{merchant_id}/api_keys/{old['id']}/roll")
    assert_error(answer, 404, "api_key_not_found")


async def test_another_merchants_key_is_not_rolled(client: httpx.AsyncClient) -> None:
    _, theirs = await _merchant_key(client)
    mine = await create_merchant(client, name="Other Shop")
    answer = await client.post(f"/v1/merchants/{mine['id']}/api_keys/{theirs['id']}/roll")
    assert_error(answer, 404, "api_key_not_found")
    # Nor through the platform's routes: those reach the platform's own keys only.
    assert_error(await client.post(f"/v1/api_keys/{theirs['id']}/roll"), 404, "api_key_not_found")


async def test_platform_keys_are_made_rolled_and_revoked(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    made = await client.post(
        "/v1/api_keys", json={"name": "ops bot", "scopes": ["operator", "read"]}
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["secret"].startswith("sk_op_") and key["role"] == "operator"
    bot = as_key(key["secret"])
    assert (await bot.get("/v1/merchants")).status_code == 200
    rolled = (
        await client.post(f"/v1/api_keys/{key['id']}/roll", json={"overlap_seconds": 0})
    ).json()
    assert_error(await bot.get("/v1/merchants"), 401, "api_key_invalid")
    assert (await as_key(rolled["secret"]).get("/v1/merchants")).status_code == 200
    revoked = await client.post(f"/v1/api_keys/{rolled['id']}/revoke")
    assert revoked.json()["revoked_at"] is not None
    assert_error(await as_key(rolled["secret"]).get("/v1/merchants"), 401, "api_key_invalid")
    listed = {k["id"] for k in (await client.get("/v1/api_keys")).json()["data"]}
    assert {key["id"], rolled["id"]} <= listed


@pytest.mark.parametrize("scope", ["operator", "compliance", "detokenize"])
async def test_merchant_keys_never_hold_platform_scopes(
    client: httpx.AsyncClient, scope: str
) -> None:
    merchant = await create_merchant(client)
    answer = await client.post(
        f"/v1/merchants/{merchant['id']}/api_keys", json={"name": "x", "scopes": [scope]}
    )
    assert_error(answer, 400, "validation_error")
