"""Request signing: a key that requires it refuses unsigned, stale, replayed and altered
requests, each with its own error, and every process refuses a replay (the nonce store is
the database, or Redis)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import text

from payhub.api.app import create_app
from payhub.auth.tasks import purge_expired_nonces
from payhub.core import clock
from payhub.core.config import Settings
from payhub.db.session import Database
from tests.api.helpers import assert_error
from tests.merchants.helpers import create_merchant

REDIS_URL = "redis://127.0.0.1:6379/15"


def _sm3(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def _mac(algorithm: str, secret: str, text_: bytes) -> str:
    """Written here from the documented rule, not taken from the code under test."""
    if algorithm == "hmac-sha256":
        return hmac.new(secret.encode(), text_, hashlib.sha256).hexdigest()
    signer = crypto_hmac.HMAC(secret.encode(), hashes.SM3())
    signer.update(text_)
    return signer.finalize().hex()


def signed(
    algorithm: str,
    secret: str,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    once = nonce or secrets.token_urlsafe(18)
    body_digest = hashlib.sha256(body).hexdigest() if algorithm == "hmac-sha256" else _sm3(body)
    text_ = "\n".join((method, target, stamp, once, body_digest)).encode()
    return {
        "PayHub-Timestamp": stamp,
        "PayHub-Nonce": once,
        "PayHub-Signature": f"{algorithm}={_mac(algorithm, secret, text_)}",
    }


class Shop:
    """A merchant whose key requires signed requests."""

    def __init__(self, http: httpx.AsyncClient, key: str, secret: str, algorithm: str) -> None:
        self.http, self.key, self.secret, self.algorithm = http, key, secret, algorithm

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        sign_body: Any = None,
        sign_path: str | None = None,
        **signing: Any,
    ) -> httpx.Response:
        raw = b"" if body is None else json.dumps(body).encode()
        signed_raw = raw if sign_body is None else json.dumps(sign_body).encode()
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        headers |= signed(
            self.algorithm, self.secret, method, sign_path or path, signed_raw, **signing
        )
        return await self.http.request(method, path, content=raw, headers=headers)


async def _signing_shop(
    client: httpx.AsyncClient, as_key: Any, algorithm: str = "hmac-sha256"
) -> Shop:
    merchant = await create_merchant(client)
    made = (
        await client.post(f"/v1/merchants/{merchant['id']}/api_keys", json={"name": "till"})
    ).json()
    turned_on = await client.post(
        f"/v1/merchants/{merchant['id']}/api_keys/{made['id']}/signing",
        json={"algorithm": algorithm},
    )
    assert turned_on.status_code == 201, turned_on.text
    answer = turned_on.json()
    assert answer["secret"].startswith("ssk_") and answer["algorithm"] == algorithm
    http = as_key(made["secret"])
    return Shop(http, made["secret"], answer["secret"], algorithm)


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "hmac-sm3"])
async def test_signed_requests_pass_and_unsigned_ones_do_not(
    client: httpx.AsyncClient, as_key: Any, algorithm: str
) -> None:
    shop = await _signing_shop(client, as_key, algorithm)
    made = await shop.send("POST", "/v1/customers", {"name": "Han Meimei"})
    assert made.status_code == 201, made.text
    listed = await shop.send("GET", "/v1/customers?limit=5")
    assert listed.status_code == 200 and listed.json()["data"][0]["name"] == "Han Meimei"
    assert_error(await shop.http.get("/v1/customers"), 401, "signature_missing")


async def test_a_replayed_request_is_refused_and_does_nothing(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await _signing_shop(client, as_key)
    body = {"name": "Li Lei"}
    headers = {"Authorization": f"Bearer {shop.key}", "Content-Type": "application/json"}
    headers |= signed(
        shop.algorithm, shop.secret, "POST", "/v1/customers", json.dumps(body).encode()
    )
    first = await shop.http.post("/v1/customers", content=json.dumps(body), headers=headers)
    assert first.status_code == 201
    again = await shop.http.post("/v1/customers", content=json.dumps(body), headers=headers)
    assert_error(again, 401, "signature_nonce_reused")
    async with db.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM customers"))).scalar_one()
    assert count == 1


@pytest.mark.parametrize("skew", [-302, 302])  # whole seconds: one for rounding
async def test_a_timestamp_outside_five_minutes_is_refused(
    client: httpx.AsyncClient, as_key: Any, skew: int
) -> None:
    shop = await _signing_shop(client, as_key)
    answer = await shop.send("GET", "/v1/customers", timestamp=int(time.time()) + skew)
    assert_error(answer, 401, "signature_timestamp_skewed")


@pytest.mark.parametrize("skew", [-290, 290])
async def test_a_timestamp_within_five_minutes_is_fine(
    client: httpx.AsyncClient, as_key: Any, skew: int
) -> None:
    shop = await _signing_shop(client, as_key)
    answer = await shop.send("GET", "/v1/customers", timestamp=int(time.time()) + skew)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "change",
    ["body", "path", "query", "scheme", "secret", "nonce", "timestamp_text"],
)
async def test_any_change_to_a_signed_request_is_refused(
    client: httpx.AsyncClient, as_key: Any, db: Database, change: str
) -> None:
    shop = await _signing_shop(client, as_key)
    body = {"name": "Li Lei"}
    if change == "body":
        answer = await shop.send("POST", "/v1/customers", body, sign_body={"name": "Zhang San"})
    elif change == "path":
        answer = await shop.send("GET", "/v1/customers", sign_path="/v1/payments")
    elif change == "query":
        answer = await shop.send("GET", "/v1/customers?limit=5", sign_path="/v1/customers?limit=6")
    elif change == "secret":
        shop.secret = "ssk_" + "x" * 43
        answer = await shop.send("POST", "/v1/customers", body)
    else:
        headers = {"Authorization": f"Bearer {shop.key}"}
        headers |= signed(shop.algorithm, shop.secret, "GET", "/v1/customers")
        if change == "scheme":
            headers["PayHub-Signature"] = headers["PayHub-Signature"].replace(
                "hmac-sha256=", "hmac-sm3="
            )
        elif change == "nonce":
            headers["PayHub-Nonce"] = "short"
        else:
            headers["PayHub-Timestamp"] = "yesterday"
        answer = await shop.http.get("/v1/customers", headers=headers)
    code = "signature_timestamp_skewed" if change == "timestamp_text" else "signature_invalid"
    assert_error(answer, 401, code)
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM customers"))).scalar_one() == 0


async def test_a_forged_request_uses_up_no_nonce(client: httpx.AsyncClient, as_key: Any) -> None:
    """The signature is checked before the nonce is remembered: a forger cannot burn the
    nonces of the key's holder."""
    shop = await _signing_shop(client, as_key)
    nonce = secrets.token_urlsafe(18)
    real_secret, shop.secret = shop.secret, "ssk_" + "y" * 43
    assert_error(await shop.send("GET", "/v1/customers", nonce=nonce), 401, "signature_invalid")
    shop.secret = real_secret
    assert (await shop.send("GET", "/v1/customers", nonce=nonce)).status_code == 200


async def test_the_secret_is_shown_once_and_the_change_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    merchant = await create_merchant(client)
    made = (
        await client.post(f"/v1/merchants/{merchant['id']}/api_keys", json={"name": "till"})
    ).json()
    path = f"/v1/merchants/{merchant['id']}/api_keys/{made['id']}/signing"
    headers = {"Idempotency-Key": "turn-signing-on"}
    first = await client.post(path, json={}, headers=headers)
    replay = await client.post(path, json={}, headers=headers)
    assert first.json()["secret"].startswith("ssk_")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["secret"] is None
    assert first.json()["algorithm"] == "hmac-sha256"  # the default suite's
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT action, details FROM audit_events"))).all()
        stored = (await conn.execute(text("SELECT signing_secret FROM api_keys"))).all()
    assert ("api_key.signing_enabled", {"algorithm": "hmac-sha256"}) in [
        (a, d if isinstance(d, dict) else json.loads(d)) for a, d in rows
    ]
    secret = first.json()["secret"].encode()
    assert all(secret not in (s or b"") for (s,) in stored)  # sealed, never in clear
    keys = (await client.get(f"/v1/merchants/{merchant['id']}/api_keys")).json()["data"]
    assert keys[0]["signing_algorithm"] == "hmac-sha256"


async def test_signing_off_again_and_a_rolled_key_signs_with_the_same_secret(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await _signing_shop(client, as_key)
    me = (await client.get("/v1/merchants")).json()["data"][0]["id"]
    key_id = (await client.get(f"/v1/merchants/{me}/api_keys")).json()["data"][0]["id"]
    rolled = (
        await client.post(
            f"/v1/merchants/{me}/api_keys/{key_id}/roll", json={"overlap_seconds": 60}
        )
    ).json()
    new_shop = Shop(as_key(rolled["secret"]), rolled["secret"], shop.secret, shop.algorithm)
    assert (await new_shop.send("GET", "/v1/customers")).status_code == 200
    assert_error(await new_shop.http.get("/v1/customers"), 401, "signature_missing")
    off = await client.post(f"/v1/merchants/{me}/api_keys/{rolled['id']}/signing/disable")
    assert off.status_code == 200 and off.json()["signing_algorithm"] is None
    assert (await new_shop.http.get("/v1/customers")).status_code == 200


async def _second_process(settings: Settings, db: Database) -> AsyncIterator[Any]:
    """Another API process on the same database (its own app and state)."""
    app = create_app(settings, database=db, run_jobs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://payhub.test"
    ) as http:
        yield http


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_a_replay_is_refused_by_every_process(
    client: httpx.AsyncClient, as_key: Any, db: Database, settings: Settings, store: str
) -> None:
    if store == "redis":
        redis = pytest.importorskip("redis")
        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.exceptions.ConnectionError:
            pytest.skip("no Redis here")
        settings = settings.model_copy(update={"redis_url": REDIS_URL})
    shop = await _signing_shop(client, as_key)
    headers = {"Authorization": f"Bearer {shop.key}"}
    headers |= signed(shop.algorithm, shop.secret, "GET", "/v1/customers")
    answers = []
    for _ in range(2):
        async for http in _second_process(settings, db):
            answers.append(await http.get("/v1/customers", headers=headers))
    assert answers[0].status_code == 200, answers[0].text
    assert_error(answers[1], 401, "signature_nonce_reused")


async def test_nonces_are_forgotten_once_they_cannot_be_replayed(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await _signing_shop(client, as_key)
    assert (await shop.send("GET", "/v1/customers")).status_code == 200
    assert await purge_expired_nonces(db) == 0
    later = clock.FrozenClock(clock.now() + timedelta(minutes=11))
    with clock.use_clock(later):
        assert await purge_expired_nonces(db) == 1
