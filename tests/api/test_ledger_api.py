"""Happy paths through HTTP for every ledger route, and the shapes of what they return."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    LEDGER,
    assert_error,
    assert_money,
    assert_timestamp,
    balance,
    entries,
    journal_ids,
    open_account,
    post_journal,
    posting,
    transfer,
)

ACCOUNT_ID = r"^acct_[0-9A-HJKMNP-TV-Z]{26}$"
BANK, WALLET, MERCHANT = "bank:custody", "customer:c1:wallet", "merchant:m1:available"


@pytest.fixture
async def accounts(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """A bank custody account, a customer wallet that cannot go negative, a merchant."""
    return {
        "bank": await open_account(client, BANK, side="debit"),
        "wallet": await open_account(client, WALLET, no_overdraft=True),
        "merchant": await open_account(client, MERCHANT),
    }


async def fund_wallet(client: httpx.AsyncClient, amount: int) -> dict[str, Any]:
    return await post_journal(client, transfer(BANK, WALLET, amount))


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def check_entry(entry: dict[str, Any]) -> None:
    assert entry["object"] == "ledger_entry"
    assert entry["id"].startswith("ent_")
    assert entry["side"] in ("debit", "credit")
    assert_money(entry["amount"])
    assert entry["amount"] > 0
    assert_timestamp(entry["posted_at"])


def check_journal(journal: dict[str, Any]) -> None:
    assert journal["object"] == "ledger_journal"
    assert_timestamp(journal["posted_at"])
    for entry in journal["postings"]:
        check_entry(entry)
        assert entry["journal"] == journal["id"]
        assert entry["posted_at"] == journal["posted_at"]


def check_balance(body: dict[str, Any]) -> None:
    assert body["object"] == "ledger_balance"
    for name in (
        "posted",
        "pending",
        "available",
        "debits_posted",
        "credits_posted",
        "debits_pending",
        "credits_pending",
    ):
        assert_money(body[name])


# Accounts


async def test_create_account_returns_the_account(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{LEDGER}/accounts",
        json={
            "code": "merchant:mer_42:available",
            "currency": "CNY",
            "normal_side": "credit",
            "name": "Merchant 42",
            "owner": "mer_42",
            "flags": {"debits_must_not_exceed_credits": True},
            "metadata": {"region": "east"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert re.match(ACCOUNT_ID, body["id"])
    assert body == {
        "object": "ledger_account",
        "id": body["id"],
        "code": "merchant:mer_42:available",
        "currency": "CNY",
        "name": "Merchant 42",
        "owner": "mer_42",
        "normal_side": "credit",
        "flags": {"debits_must_not_exceed_credits": True, "credits_must_not_exceed_debits": False},
        "shards": 1,
        "metadata": {"region": "east"},
        "created_at": body["created_at"],
    }
    assert_timestamp(body["created_at"])
    fresh = await balance(client, body["id"])
    check_balance(fresh)
    assert fresh["posted"] == fresh["pending"] == fresh["available"] == 0
    assert fresh["as_of"] is None


async def test_account_name_defaults_to_code(client: httpx.AsyncClient) -> None:
    body = await open_account(client, "platform:fees", side="credit")
    assert body["name"] == "platform:fees"
    assert body["owner"] is None
    assert body["metadata"] == {}
    assert body["shards"] == 1


async def test_get_account_by_id_and_by_code(client: httpx.AsyncClient) -> None:
    cny = await open_account(client, "shared:float", currency="CNY")
    usd = await open_account(client, "shared:float", currency="USD")
    single = await open_account(client, "platform:fees")

    by_id = await client.get(f"{LEDGER}/accounts/{usd['id']}")
    assert by_id.status_code == 200
    assert by_id.json() == usd

    by_code = await client.get(f"{LEDGER}/accounts/platform:fees")
    assert by_code.status_code == 200
    assert by_code.json() == single

    for account in (cny, usd):
        response = await client.get(
            f"{LEDGER}/accounts/shared:float", params={"currency": account["currency"]}
        )
        assert response.status_code == 200
        assert response.json() == account

    # A code held in several currencies needs the currency.
    ambiguous = await client.get(f"{LEDGER}/accounts/shared:float")
    assert_error(ambiguous, 400, "validation_error", param="currency")


async def test_list_accounts_pages_and_filters(client: httpx.AsyncClient) -> None:
    made = [
        await open_account(client, f"merchant:m{i}:available", owner=f"mer_{i % 2}")
        for i in range(5)
    ]
    usd = await open_account(client, "merchant:m0:available", currency="USD", owner="mer_0")
    newest_first = [usd, *reversed(made)]

    first = await client.get(f"{LEDGER}/accounts", params={"limit": 4})
    assert first.status_code == 200
    page = first.json()
    assert page["object"] == "list"
    assert page["has_more"] is True
    assert page["data"] == newest_first[:4]

    second = await client.get(
        f"{LEDGER}/accounts", params={"limit": 4, "starting_after": page["data"][-1]["id"]}
    )
    assert second.json() == {"object": "list", "data": newest_first[4:], "has_more": False}

    owned = await client.get(f"{LEDGER}/accounts", params={"owner": "mer_0"})
    assert [a["id"] for a in owned.json()["data"]] == [
        usd["id"],
        made[4]["id"],
        made[2]["id"],
        made[0]["id"],
    ]

    prefixed = await client.get(f"{LEDGER}/accounts", params={"code_prefix": "merchant:m1"})
    assert [a["id"] for a in prefixed.json()["data"]] == [made[1]["id"]]

    in_usd = await client.get(f"{LEDGER}/accounts", params={"currency": "USD"})
    assert in_usd.json()["data"] == [usd]


async def test_list_accounts_cursor_must_be_an_account_id(client: httpx.AsyncClient) -> None:
    """Codes do not sort in creation order, so they cannot serve as a cursor."""
    for i in range(3):
        await open_account(client, f"merchant:m{i}:available")
    anchor = (await client.get(f"{LEDGER}/accounts", params={"limit": 1})).json()["data"][0]
    after_code = await client.get(f"{LEDGER}/accounts", params={"starting_after": anchor["code"]})
    assert after_code.status_code == 400
    assert after_code.json()["error"]["code"] == "invalid_id"
    assert after_code.json()["error"]["param"] == "starting_after"
    after_id = await client.get(f"{LEDGER}/accounts", params={"starting_after": anchor["id"]})
    assert [a["code"] for a in after_id.json()["data"]] == [
        "merchant:m1:available",
        "merchant:m0:available",
    ]


async def test_update_account_by_id_and_by_code(client: httpx.AsyncClient) -> None:
    account = await open_account(client, "merchant:m1:available", metadata={"tier": "gold"})

    by_id = await client.post(
        f"{LEDGER}/accounts/{account['id']}",
        json={"name": "Merchant One", "metadata": {"tier": "silver", "region": "north"}},
    )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json() == {
        **account,
        "name": "Merchant One",
        "metadata": {"tier": "silver", "region": "north"},
    }

    # Only the name: metadata stays.
    by_code = await client.post(f"{LEDGER}/accounts/merchant:m1:available", json={"name": "M1"})
    assert by_code.status_code == 200, by_code.text
    assert by_code.json()["name"] == "M1"
    assert by_code.json()["metadata"] == {"tier": "silver", "region": "north"}

    stored = await client.get(f"{LEDGER}/accounts/{account['id']}")
    assert stored.json() == by_code.json()
    # Fixed fields did not move.
    for name in ("id", "code", "currency", "normal_side", "flags", "shards", "created_at"):
        assert stored.json()[name] == account[name]


async def test_update_account_by_code_and_currency(client: httpx.AsyncClient) -> None:
    await open_account(client, "shared:float", currency="CNY")
    usd = await open_account(client, "shared:float", currency="USD")
    response = await client.post(
        f"{LEDGER}/accounts/shared:float", params={"currency": "USD"}, json={"name": "USD float"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == usd["id"]
    assert response.json()["name"] == "USD float"


@pytest.mark.parametrize("kind", ["journal", "batch", "hold", "reversal"])
async def test_journal_metadata_is_stored(
    client: httpx.AsyncClient, accounts: dict, kind: str
) -> None:
    body = transfer(BANK, MERCHANT, 10, id="with-meta", metadata={"order": "1001"})
    if kind == "journal":
        await post_journal(client, body)
        expected, path = {"order": "1001"}, f"{LEDGER}/journals/with-meta"
    elif kind == "batch":
        await client.post(f"{LEDGER}/journals/batch", json={"journals": [body]})
        expected, path = {"order": "1001"}, f"{LEDGER}/journals/with-meta"
    elif kind == "hold":
        created = await client.post(f"{LEDGER}/holds", json=body)
        assert created.json()["metadata"] == {"order": "1001"}
        expected, path = {"order": "1001"}, f"{LEDGER}/holds/with-meta"
    else:
        await post_journal(client, body)
        await client.post(f"{LEDGER}/journals/with-meta/reverse", json={"id": "rev"})
        expected, path = {"reverses": "with-meta"}, f"{LEDGER}/journals/rev"
    response = await client.get(path)
    assert response.status_code == 200
    assert response.json()["metadata"] == expected


# Balances and entries


async def test_balance_now_and_as_of(client: httpx.AsyncClient, accounts: dict) -> None:
    journal = await fund_wallet(client, 5000)

    wallet = await balance(client, accounts["wallet"]["id"])
    check_balance(wallet)
    assert wallet == {
        "object": "ledger_balance",
        "account": accounts["wallet"]["id"],
        "currency": "CNY",
        "posted": 5000,
        "pending": 0,
        "available": 5000,
        "debits_posted": 0,
        "credits_posted": 5000,
        "debits_pending": 0,
        "credits_pending": 0,
        "as_of": None,
    }
    # The debit-normal bank account shows the same amount on its own side.
    bank = await balance(client, BANK, currency="CNY")
    assert (bank["posted"], bank["debits_posted"], bank["credits_posted"]) == (5000, 5000, 0)

    posted_at = parse(journal["posted_at"])
    at = await balance(client, WALLET, as_of=journal["posted_at"])
    assert at["posted"] == 5000
    assert at["as_of"] == journal["posted_at"]

    before = await balance(client, WALLET, as_of=rfc3339(posted_at - timedelta(microseconds=1)))
    assert (before["posted"], before["credits_posted"], before["available"]) == (0, 0, 0)
    assert_timestamp(before["as_of"])

    # An offset other than Z is accepted and answered in UTC with Z.
    shanghai = (posted_at + timedelta(hours=1)).astimezone(timezone(timedelta(hours=8)))
    later = await balance(client, WALLET, as_of=shanghai.isoformat())
    assert later["posted"] == 5000
    assert later["as_of"] == rfc3339(posted_at + timedelta(hours=1))


async def test_entries_page_newest_first(client: httpx.AsyncClient, accounts: dict) -> None:
    posted = [await fund_wallet(client, amount) for amount in (100, 200, 300)]
    wallet = accounts["wallet"]["id"]

    first = await client.get(f"{LEDGER}/accounts/{wallet}/entries", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert page["object"] == "list"
    assert page["has_more"] is True
    assert [e["amount"] for e in page["data"]] == [300, 200]
    for entry, journal in zip(page["data"], [posted[2], posted[1]], strict=True):
        check_entry(entry)
        assert entry["journal"] == journal["id"]
        assert entry["account"] == wallet
        assert entry["account_code"] == WALLET
        assert (entry["side"], entry["currency"], entry["pending"]) == ("credit", "CNY", False)

    second = await client.get(
        f"{LEDGER}/accounts/{wallet}/entries",
        params={"limit": 2, "starting_after": page["data"][-1]["id"]},
    )
    rest = second.json()
    assert rest["has_more"] is False
    assert [e["amount"] for e in rest["data"]] == [100]

    # By code too.
    assert [e["amount"] for e in await entries(client, WALLET, currency="CNY")] == [300, 200, 100]


# Journals


async def test_post_journal_then_same_id_again(client: httpx.AsyncClient, accounts: dict) -> None:
    body = transfer(BANK, WALLET, 1999, id="order-1001", description="Top-up")
    first = await client.post(f"{LEDGER}/journals", json=body)
    assert first.status_code == 201, first.text
    journal = first.json()
    check_journal(journal)
    assert journal["id"] == "order-1001"
    assert journal["kind"] == "standard"
    assert journal["description"] == "Top-up"
    assert journal["metadata"] == {}
    assert journal["reverses"] is None and journal["hold"] is None
    assert [(p["account"], p["side"], p["amount"], p["currency"]) for p in journal["postings"]] == [
        (accounts["bank"]["id"], "debit", 1999, "CNY"),
        (accounts["wallet"]["id"], "credit", 1999, "CNY"),
    ]

    again = await client.post(f"{LEDGER}/journals", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == journal

    # The same postings named by account id are the same journal.
    by_ids = transfer(
        accounts["bank"]["id"],
        accounts["wallet"]["id"],
        1999,
        id="order-1001",
        description="Top-up",
    )
    assert (await post_journal(client, by_ids, status=200)) == journal

    assert (await balance(client, WALLET))["posted"] == 1999
    assert len(await entries(client, WALLET)) == 1
    assert await journal_ids(client) == ["order-1001"]


async def test_journal_without_id_gets_one(client: httpx.AsyncClient, accounts: dict) -> None:
    journal = await post_journal(client, transfer(BANK, MERCHANT, 10))
    assert re.match(r"^jrn_[0-9A-HJKMNP-TV-Z]{26}$", journal["id"])
    fetched = await client.get(f"{LEDGER}/journals/{journal['id']}")
    assert fetched.json() == journal


async def test_batch_counts_and_linked_chains(client: httpx.AsyncClient, accounts: dict) -> None:
    await post_journal(client, transfer(BANK, WALLET, 1000, id="dup-1"))
    response = await client.post(
        f"{LEDGER}/journals/batch",
        json={
            "journals": [
                transfer(BANK, MERCHANT, 5, id="new-1"),
                transfer(BANK, WALLET, 1000, id="dup-1"),
                {
                    "id": "unbalanced-1",
                    "postings": [posting(BANK, "debit", 5), posting(MERCHANT, "credit", 4)],
                },
                # A chain: the first alone would pass, the second overdraws the wallet.
                {**transfer(BANK, WALLET, 500, id="chain-1"), "linked": True},
                transfer(WALLET, MERCHANT, 1600, id="chain-2"),
                # Not linked to the chain: stands on its own.
                transfer(WALLET, MERCHANT, 300, id="alone-1"),
                # A chain that holds together.
                {**transfer(BANK, WALLET, 50, id="pair-1"), "linked": True},
                transfer(WALLET, MERCHANT, 750, id="pair-2"),
            ]
        },
    )
    assert response.status_code == 200, response.text
    batch = response.json()
    assert batch["object"] == "ledger_batch_result"
    assert (batch["created"], batch["duplicates"], batch["rejected"]) == (4, 1, 3)
    results = batch["results"]
    assert [r["index"] for r in results] == list(range(8))
    assert [r["status"] for r in results] == [
        "created",
        "duplicate",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "created",
        "created",
    ]
    for result in results:
        if result["status"] == "rejected":
            assert result["journal"] is None
            assert set(result["error"]) == {"code", "type", "message", "param", "retryable"}
        else:
            assert result["error"] is None
            check_journal(result["journal"])
    assert results[1]["journal"]["id"] == "dup-1"
    assert results[2]["error"]["code"] == "journal_unbalanced"
    assert results[3]["error"] == {
        "code": "linked_journal_failed",
        "type": "conflict",
        "message": results[3]["error"]["message"],
        "param": None,
        "retryable": False,
    }
    assert results[4]["error"]["code"] == "insufficient_funds"
    assert results[4]["error"]["type"] == "payment"

    # wallet: +1000 (dup-1) -300 (alone-1) +50 -750 (pair); the failed chain left no trace.
    wallet = await balance(client, WALLET)
    assert (wallet["credits_posted"], wallet["debits_posted"], wallet["posted"]) == (1050, 1050, 0)
    assert (await balance(client, MERCHANT))["posted"] == 5 + 300 + 750
    for rejected in ("unbalanced-1", "chain-1", "chain-2"):
        assert_error(await client.get(f"{LEDGER}/journals/{rejected}"), 404, "journal_not_found")


async def test_list_and_get_journals(client: httpx.AsyncClient, accounts: dict) -> None:
    first = await post_journal(client, transfer(BANK, WALLET, 100, id="j-1"))
    second = await post_journal(client, transfer(BANK, MERCHANT, 200, id="j-2"))
    third = await post_journal(client, transfer(WALLET, MERCHANT, 50, id="j-3"))

    page = await client.get(f"{LEDGER}/journals", params={"limit": 2})
    assert page.status_code == 200
    body = page.json()
    assert body["object"] == "list"
    assert body["has_more"] is True
    assert body["data"] == [third, second]

    rest = await client.get(f"{LEDGER}/journals", params={"limit": 2, "starting_after": "j-2"})
    assert rest.json() == {"object": "list", "data": [first], "has_more": False}

    touching = await client.get(f"{LEDGER}/journals", params={"account": WALLET})
    assert [j["id"] for j in touching.json()["data"]] == ["j-3", "j-1"]
    by_id = await client.get(
        f"{LEDGER}/journals", params={"account": accounts["merchant"]["id"], "currency": "CNY"}
    )
    assert [j["id"] for j in by_id.json()["data"]] == ["j-3", "j-2"]

    for journal in (first, second, third):
        fetched = await client.get(f"{LEDGER}/journals/{journal['id']}")
        assert fetched.status_code == 200
        assert fetched.json() == journal


async def test_reverse_a_journal_once(client: httpx.AsyncClient, accounts: dict) -> None:
    original = await post_journal(client, transfer(BANK, MERCHANT, 700, id="sale-1"))

    reversed_ = await client.post(
        f"{LEDGER}/journals/sale-1/reverse", json={"id": "sale-1-rev", "description": "refund"}
    )
    assert reversed_.status_code == 201, reversed_.text
    reversal = reversed_.json()
    check_journal(reversal)
    assert reversal["id"] == "sale-1-rev"
    assert reversal["kind"] == "reversal"
    assert reversal["reverses"] == "sale-1"
    assert reversal["description"] == "refund"
    assert [(p["account"], p["side"], p["amount"]) for p in reversal["postings"]] == [
        (p["account"], "credit" if p["side"] == "debit" else "debit", p["amount"])
        for p in original["postings"]
    ]
    for code in (BANK, MERCHANT):
        after = await balance(client, code)
        assert after["posted"] == 0
        assert after["debits_posted"] == after["credits_posted"] == 700

    # The same reversal id again answers with the first reversal.
    repeat = await client.post(f"{LEDGER}/journals/sale-1/reverse", json={"id": "sale-1-rev"})
    assert repeat.status_code == 200
    # Compared without metadata: see test_journal_metadata_is_stored (lost on SQLite).
    assert {**repeat.json(), "metadata": None} == {**reversal, "metadata": None}

    # Any other second reversal is refused.
    again = await client.post(f"{LEDGER}/journals/sale-1/reverse")
    assert_error(again, 409, "journal_already_reversed")
    assert (await balance(client, MERCHANT))["posted"] == 0
    assert await journal_ids(client) == ["sale-1-rev", "sale-1"]


async def test_reverse_without_body_makes_an_id(client: httpx.AsyncClient, accounts: dict) -> None:
    original = await post_journal(client, transfer(BANK, MERCHANT, 5))
    response = await client.post(f"{LEDGER}/journals/{original['id']}/reverse")
    assert response.status_code == 201, response.text
    reversal = response.json()
    assert reversal["id"].startswith("jrn_") and reversal["id"] != original["id"]
    assert reversal["reverses"] == original["id"]
    assert reversal["kind"] == "reversal"


# Holds


async def test_hold_then_post_in_full(client: httpx.AsyncClient, accounts: dict) -> None:
    await fund_wallet(client, 10_000)
    expires = rfc3339(datetime.now(UTC) + timedelta(days=1))
    response = await client.post(
        f"{LEDGER}/holds",
        json={
            **transfer(WALLET, MERCHANT, 3000, id="auth-1", description="card auth"),
            "expires_at": expires,
        },
    )
    assert response.status_code == 201, response.text
    hold = response.json()
    assert hold["object"] == "ledger_hold"
    assert hold["id"] == "auth-1"
    assert hold["status"] == "pending"
    assert hold["description"] == "card auth"
    assert hold["expires_at"] == expires
    assert hold["resolved_at"] is None and hold["post_journal"] is None
    assert_timestamp(hold["created_at"])
    assert [
        (p["account_code"], p["side"], p["amount"], p["pending"]) for p in hold["postings"]
    ] == [
        (WALLET, "debit", 3000, True),
        (MERCHANT, "credit", 3000, True),
    ]

    wallet = await balance(client, WALLET)
    assert (wallet["posted"], wallet["pending"], wallet["available"]) == (10_000, -3000, 7000)
    assert wallet["debits_pending"] == 3000
    merchant = await balance(client, MERCHANT)
    assert (merchant["posted"], merchant["pending"], merchant["available"]) == (0, 3000, 0)
    # Pending entries show only when asked for.
    assert [e["amount"] for e in await entries(client, MERCHANT)] == []
    assert [e["amount"] for e in await entries(client, MERCHANT, include_pending="true")] == [3000]

    fetched = await client.get(f"{LEDGER}/holds/auth-1")
    assert fetched.status_code == 200
    assert fetched.json() == hold

    posted = await client.post(f"{LEDGER}/holds/auth-1/post", json={"journal_id": "capture-1"})
    assert posted.status_code == 200, posted.text
    after = posted.json()
    assert after["status"] == "posted"
    assert_timestamp(after["resolved_at"])
    journal = after["post_journal"]
    check_journal(journal)
    assert (journal["id"], journal["kind"], journal["hold"]) == ("capture-1", "hold_post", "auth-1")
    assert [
        (p["account_code"], p["side"], p["amount"], p["pending"]) for p in journal["postings"]
    ] == [
        (WALLET, "debit", 3000, False),
        (MERCHANT, "credit", 3000, False),
    ]
    wallet = await balance(client, WALLET)
    assert (wallet["posted"], wallet["pending"], wallet["available"]) == (7000, 0, 7000)
    merchant = await balance(client, MERCHANT)
    assert (merchant["posted"], merchant["pending"], merchant["available"]) == (3000, 0, 3000)

    # Posting again with the same journal id is a repeat, not a second capture.
    repeat = await client.post(f"{LEDGER}/holds/auth-1/post", json={"journal_id": "capture-1"})
    assert repeat.status_code == 200
    assert repeat.json() == after
    assert (await balance(client, MERCHANT))["posted"] == 3000


async def test_hold_posted_in_part_releases_the_rest(
    client: httpx.AsyncClient, accounts: dict
) -> None:
    await fund_wallet(client, 10_000)
    hold = (await client.post(f"{LEDGER}/holds", json=transfer(WALLET, MERCHANT, 3000))).json()
    assert hold["id"].startswith("hold_")

    response = await client.post(
        f"{LEDGER}/holds/{hold['id']}/post",
        json={"postings": transfer(WALLET, MERCHANT, 1000)["postings"]},
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["status"] == "posted"
    assert [p["amount"] for p in after["post_journal"]["postings"]] == [1000, 1000]

    wallet = await balance(client, WALLET)
    assert wallet == {
        **wallet,
        "posted": 9000,
        "pending": 0,
        "available": 9000,
        "debits_pending": 0,
        "credits_pending": 0,
    }
    merchant = await balance(client, MERCHANT)
    assert (merchant["posted"], merchant["pending"], merchant["available"]) == (1000, 0, 1000)
    assert merchant["credits_pending"] == 0


async def test_void_hold_releases_everything(client: httpx.AsyncClient, accounts: dict) -> None:
    await fund_wallet(client, 10_000)
    await client.post(f"{LEDGER}/holds", json=transfer(WALLET, MERCHANT, 2500, id="auth-2"))
    assert (await balance(client, WALLET))["available"] == 7500

    response = await client.post(f"{LEDGER}/holds/auth-2/void")
    assert response.status_code == 200, response.text
    voided = response.json()
    assert voided["status"] == "voided"
    assert voided["post_journal"] is None
    assert_timestamp(voided["resolved_at"])

    wallet = await balance(client, WALLET)
    assert (wallet["posted"], wallet["pending"], wallet["available"]) == (10_000, 0, 10_000)
    merchant = await balance(client, MERCHANT)
    assert (merchant["posted"], merchant["pending"], merchant["credits_pending"]) == (0, 0, 0)

    # Resolved once: neither a post nor another void goes through.
    assert_error(await client.post(f"{LEDGER}/holds/auth-2/post"), 409, "hold_already_resolved")
    assert_error(await client.post(f"{LEDGER}/holds/auth-2/void"), 409, "hold_already_resolved")
    assert (await balance(client, MERCHANT))["posted"] == 0


async def test_same_hold_id_again_returns_the_hold(
    client: httpx.AsyncClient, accounts: dict
) -> None:
    await fund_wallet(client, 1000)
    body = transfer(WALLET, MERCHANT, 400, id="auth-3")
    first = await client.post(f"{LEDGER}/holds", json=body)
    assert first.status_code == 201
    again = await client.post(f"{LEDGER}/holds", json=body)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert (await balance(client, WALLET))["available"] == 600


# Hot accounts


async def test_hot_account_sums_its_shards(client: httpx.AsyncClient, accounts: dict) -> None:
    hot = await open_account(client, "platform:fees:hot", shards=4)
    assert hot["shards"] == 4

    for amount in range(1, 21):
        await post_journal(client, transfer(BANK, "platform:fees:hot", amount))
    batch = await client.post(
        f"{LEDGER}/journals/batch",
        json={"journals": [transfer(BANK, hot["id"], 1000) for _ in range(5)]},
    )
    assert batch.json()["created"] == 5
    await post_journal(client, transfer("platform:fees:hot", MERCHANT, 60))

    total = 210 + 5000
    fees = await balance(client, hot["id"])
    check_balance(fees)
    assert (fees["credits_posted"], fees["debits_posted"]) == (total, 60)
    assert fees["posted"] == fees["available"] == total - 60

    lines = await entries(client, hot["id"])
    assert len(lines) == 26
    assert sum(e["amount"] for e in lines if e["side"] == "credit") == total

    # A hold on a hot account is released from the shard it reserved.
    hold = (
        await client.post(f"{LEDGER}/holds", json=transfer(BANK, "platform:fees:hot", 333))
    ).json()
    assert (await balance(client, hot["id"]))["credits_pending"] == 333
    assert (await client.post(f"{LEDGER}/holds/{hold['id']}/post")).status_code == 200
    fees = await balance(client, hot["id"])
    assert (fees["credits_pending"], fees["posted"]) == (0, total - 60 + 333)


async def test_list_holds_by_status_newest_first(client: httpx.AsyncClient, accounts: dict) -> None:
    await fund_wallet(client, 10_000)
    for i in range(4):
        created = await client.post(
            f"{LEDGER}/holds", json=transfer(WALLET, MERCHANT, 100 + i, id=f"list-hold-{i}")
        )
        assert created.status_code == 201, created.text
    assert (await client.post(f"{LEDGER}/holds/list-hold-1/void")).status_code == 200
    assert (await client.post(f"{LEDGER}/holds/list-hold-2/post")).status_code == 200

    everything = (await client.get(f"{LEDGER}/holds")).json()
    assert everything["object"] == "list"
    assert [h["id"] for h in everything["data"]] == [f"list-hold-{i}" for i in (3, 2, 1, 0)]

    pending = (await client.get(f"{LEDGER}/holds", params={"status": "pending"})).json()
    assert [h["id"] for h in pending["data"]] == ["list-hold-3", "list-hold-0"]
    posted = (await client.get(f"{LEDGER}/holds", params={"status": "posted"})).json()
    assert [h["id"] for h in posted["data"]] == ["list-hold-2"]
    assert posted["data"][0]["post_journal"]["hold"] == "list-hold-2"

    first = (await client.get(f"{LEDGER}/holds", params={"limit": 2})).json()
    assert [h["id"] for h in first["data"]] == ["list-hold-3", "list-hold-2"]
    assert first["has_more"] is True
    rest = (
        await client.get(f"{LEDGER}/holds", params={"limit": 2, "starting_after": "list-hold-2"})
    ).json()
    assert [h["id"] for h in rest["data"]] == ["list-hold-1", "list-hold-0"]
    assert rest["has_more"] is False

    unknown = await client.get(f"{LEDGER}/holds", params={"starting_after": "no-such-hold"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "hold_not_found"
    bad_status = await client.get(f"{LEDGER}/holds", params={"status": "lost"})
    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["code"] == "validation_error"
