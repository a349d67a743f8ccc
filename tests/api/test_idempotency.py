"""POST with an Idempotency-Key: replays, refusals, per-key scoping, concurrent duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from payhub.api.app import create_app
from payhub.auth import service as auth
from payhub.core.config import Settings
from payhub.db.session import Database
from tests.api.helpers import (
    LEDGER,
    assert_error,
    balance,
    entries,
    journal_ids,
    ledger_state,
    open_account,
    post_journal,
    transfer,
)

BANK, WALLET, MERCHANT = "bank:custody", "customer:c1:wallet", "merchant:m1"
JOURNALS = f"{LEDGER}/journals"


@pytest.fixture
async def accounts(client: httpx.AsyncClient) -> None:
    await open_account(client, BANK, side="debit")
    await open_account(client, WALLET, no_overdraft=True)
    await open_account(client, MERCHANT)


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_replay_returns_the_stored_response(
    client: httpx.AsyncClient, accounts: None
) -> None:
    body = transfer(BANK, MERCHANT, 250)  # no journal id: only the key stops a second posting
    first = await client.post(JOURNALS, json=body, headers=key("pay-1"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    for _ in range(2):
        replay = await client.post(JOURNALS, json=body, headers=key("pay-1"))
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.content == first.content
        assert replay.headers["request-id"] != first.headers["request-id"]

    # The same JSON written differently is the same request.
    spaced = json.dumps(body, indent=4).encode()
    replay = await client.post(
        JOURNALS, content=spaced, headers={**key("pay-1"), "content-type": "application/json"}
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content

    assert len(await entries(client, MERCHANT)) == 1
    assert (await balance(client, MERCHANT))["posted"] == 250
    assert await journal_ids(client) == [first.json()["id"]]


async def test_replay_keeps_a_200_duplicate(client: httpx.AsyncClient, accounts: None) -> None:
    body = transfer(BANK, MERCHANT, 5, id="j-1")
    await post_journal(client, body)
    first = await client.post(JOURNALS, json=body, headers=key("dup-key"))
    assert first.status_code == 200
    replay = await client.post(JOURNALS, json=body, headers=key("dup-key"))
    assert (replay.status_code, replay.content) == (200, first.content)
    assert replay.headers["idempotent-replayed"] == "true"


async def test_other_posts_replay_too(client: httpx.AsyncClient) -> None:
    account = {"code": "platform:fees", "currency": "CNY", "normal_side": "credit"}
    first = await client.post(f"{LEDGER}/accounts", json=account, headers=key("acct-1"))
    assert first.status_code == 201
    # Without the key this would be account_code_taken.
    replay = await client.post(f"{LEDGER}/accounts", json=account, headers=key("acct-1"))
    assert (replay.status_code, replay.content) == (201, first.content)
    assert replay.headers["idempotent-replayed"] == "true"
    listed = await client.get(f"{LEDGER}/accounts")
    assert [a["id"] for a in listed.json()["data"]] == [first.json()["id"]]


async def test_same_key_other_body_is_refused(client: httpx.AsyncClient, accounts: None) -> None:
    first = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 100), headers=key("k-1"))
    assert first.status_code == 201
    before = await ledger_state(client)

    other = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 101), headers=key("k-1"))
    assert_error(other, 409, "idempotency_key_reused", param="Idempotency-Key")
    assert "idempotent-replayed" not in other.headers

    elsewhere = await client.post(
        f"{LEDGER}/accounts",
        json={"code": "x", "currency": "CNY", "normal_side": "credit"},
        headers=key("k-1"),
    )
    assert_error(elsewhere, 409, "idempotency_key_reused")
    assert await ledger_state(client) == before

    # The key still replays its own request.
    replay = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 100), headers=key("k-1"))
    assert replay.content == first.content


async def test_a_refusal_replays_as_the_same_refusal(
    client: httpx.AsyncClient, accounts: None
) -> None:
    overdraw = transfer(WALLET, MERCHANT, 500)
    first = await client.post(JOURNALS, json=overdraw, headers=key("spend-1"))
    error = assert_error(first, 402, "insufficient_funds")

    # Even once the money is there, the key answers as it did the first time.
    await post_journal(client, transfer(BANK, WALLET, 1000))
    before = await ledger_state(client)
    replay = await client.post(JOURNALS, json=overdraw, headers=key("spend-1"))
    assert replay.status_code == 402
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.json()["error"]["request_id"] == error["request_id"]
    assert await ledger_state(client) == before

    # A fresh key does the work.
    fresh = await client.post(JOURNALS, json=overdraw, headers=key("spend-2"))
    assert fresh.status_code == 201
    assert (await balance(client, WALLET))["posted"] == 500


async def test_keys_are_scoped_per_api_key(
    client: httpx.AsyncClient, db: Database, accounts: None
) -> None:
    second = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="second", role="operator", scopes=auth.OPERATOR_SCOPES)
    )
    other = {"Authorization": f"Bearer {second.secret}"}

    mine = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 10), headers=key("shared"))
    theirs = await client.post(
        JOURNALS, json=transfer(BANK, MERCHANT, 20), headers={**other, **key("shared")}
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert (await balance(client, MERCHANT))["posted"] == 30

    # Each caller replays its own request, and is refused the other's.
    again = await client.post(
        JOURNALS, json=transfer(BANK, MERCHANT, 20), headers={**other, **key("shared")}
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == theirs.content
    crossed = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 20), headers=key("shared"))
    assert_error(crossed, 409, "idempotency_key_reused")
    assert (await balance(client, MERCHANT))["posted"] == 30


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("k" * 256, id="256-chars"),
        pytest.param("", id="empty"),
        pytest.param("tab\there", id="control-char"),
    ],
)
async def test_invalid_key(client: httpx.AsyncClient, accounts: None, value: str) -> None:
    before = await ledger_state(client)
    response = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 1), headers=key(value))
    assert_error(response, 400, "idempotency_key_invalid", param="Idempotency-Key")
    assert await ledger_state(client) == before


async def test_longest_key_is_fine(client: httpx.AsyncClient, accounts: None) -> None:
    response = await client.post(JOURNALS, json=transfer(BANK, MERCHANT, 1), headers=key("k" * 255))
    assert response.status_code == 201


@pytest.fixture
async def own_client(
    db: Database, settings: Settings, operator_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A second client on a second app instance: concurrent callers on separate apps."""
    app = create_app(settings, database=db, run_jobs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://payhub.test",
        headers={"Authorization": f"Bearer {operator_key}"},
    ) as http:
        yield http


async def test_concurrent_duplicates_post_once(
    client: httpx.AsyncClient, own_client: httpx.AsyncClient, accounts: None
) -> None:
    body = transfer(BANK, MERCHANT, 777)
    callers = [client, own_client] * 5
    responses = await asyncio.gather(
        *(c.post(JOURNALS, json=body, headers=key("race-1")) for c in callers)
    )
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    replayed = [r.headers.get("idempotent-replayed") for r in responses]
    assert replayed.count("true") == 9
    assert replayed.count(None) == 1
    assert len({r.content for r in responses}) == 1

    assert await journal_ids(client) == list(ids)
    assert len(await entries(client, MERCHANT)) == 1
    assert (await balance(client, MERCHANT))["posted"] == 777


async def test_concurrent_duplicates_of_a_refusal(
    client: httpx.AsyncClient, accounts: None
) -> None:
    overdraw = transfer(WALLET, MERCHANT, 1)
    responses = await asyncio.gather(
        *(client.post(JOURNALS, json=overdraw, headers=key("race-2")) for _ in range(10))
    )
    assert [r.json()["error"]["code"] for r in responses] == ["insufficient_funds"] * 10
    assert len({r.content for r in responses}) == 1
    assert [r.headers.get("idempotent-replayed") for r in responses].count("true") == 9


async def test_keys_are_purged_after_their_retention(
    client: httpx.AsyncClient, db: Database
) -> None:
    from datetime import timedelta

    from payhub.core import clock
    from payhub.core.clock import FrozenClock, use_clock
    from payhub.idempotency.tasks import purge_expired_keys

    frozen = FrozenClock(clock.now())
    with use_clock(frozen):
        body = {"code": "purge:me", "currency": "CNY", "normal_side": "credit"}
        first = await client.post(
            "/v1/ledger/accounts", json=body, headers={"Idempotency-Key": "keep-24h"}
        )
        assert first.status_code == 201
        frozen.advance(timedelta(hours=23))
        assert await purge_expired_keys(db) == 0
        frozen.advance(timedelta(hours=2))
        assert await purge_expired_keys(db) == 1
        async with db.engine.connect() as conn:
            left = (await conn.exec_driver_sql("SELECT COUNT(*) FROM idempotency_keys")).scalar()
        assert left == 0
