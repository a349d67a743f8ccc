"""`/v1/vault/data_keys`: the operator lists and rotates the vault's data keys."""

from __future__ import annotations

from typing import Any

import httpx

from payhub.core.cryptosuite import CIPHER_OF, Suite
from payhub.db.session import Database
from payhub.vault import reencrypt
from tests.api.helpers import RFC3339_Z, assert_error
from tests.merchants.helpers import create_merchant, merchant_key
from tests.vault.helpers import bind, card, count, reveal_for_channel

ROTATE = "/v1/vault/data_keys/rotate"


async def test_the_operator_rotates_and_the_change_is_audited(
    client: httpx.AsyncClient, db: Database, suite: Suite
) -> None:
    pan = card("HXB", "credit")
    view, _ = await bind(db, pan)
    made = await client.post(ROTATE)
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["object"] == "data_key"
    assert (key["version"], key["state"], key["rows"]) == (2, "active", 0)
    assert key["algorithm"] == CIPHER_OF[suite].value
    assert RFC3339_Z.match(key["created_at"]) and key["destroyed_at"] is None
    assert set(key) == {
        "object",
        "version",
        "algorithm",
        "state",
        "rows",
        "created_at",
        "deactivated_at",
        "destroyed_at",
    }  # no key material, wrapped or not

    listed = (await client.get("/v1/vault/data_keys")).json()
    assert [(k["version"], k["state"], k["rows"]) for k in listed["data"]] == [
        (1, "retiring", 1),
        (2, "active", 0),
    ]
    await reencrypt.run(db)
    assert await reveal_for_channel(db, view.token) == pan

    events = await client.get("/v1/audit/events", params={"action": "vault.data_key.rotated"})
    [event] = events.json()["data"]
    assert event["actor"].startswith("key:") and event["actor_role"] == "operator"
    assert event["details"] == {"version": 2, "algorithm": key["algorithm"], "previous": 1}
    assert event["request_id"] == made.headers["request-id"]
    # The route recorded its own event: no generic one on top.
    every = (await client.get("/v1/audit/events", params={"limit": "100"})).json()["data"]
    assert not [e for e in every if e["action"].startswith("operator POST")]


async def test_another_algorithm_can_be_asked_for(client: httpx.AsyncClient) -> None:
    made = await client.post(ROTATE, json={"algorithm": "sm4-gcm"})
    assert made.status_code == 201 and made.json()["algorithm"] == "sm4-gcm"
    made = await client.post(ROTATE, json={"algorithm": "aes-256-gcm"})
    assert made.json()["version"] == 2 and made.json()["algorithm"] == "aes-256-gcm"


async def test_bad_requests_and_merchants_are_refused_and_write_nothing(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    for body in ({"algorithm": "des"}, {"algorithm": "sm4-gcm", "extra": 1}, [1]):
        assert_error(await client.post(ROTATE, json=body), 400, "validation_error")
    merchant = await create_merchant(client)
    shop = as_key(await merchant_key(client, merchant["id"]))
    assert_error(await shop.post(ROTATE), 403, "permission_denied")
    assert_error(await shop.get("/v1/vault/data_keys"), 403, "permission_denied")
    async with db.session() as s:
        assert await count(s, "vault_data_keys") == 0
    assert (await client.get("/v1/vault/data_keys")).json()["data"] == []
