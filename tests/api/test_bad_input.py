"""Every kind of bad input gets its catalogue error, in the JSON error shape, and writes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from payhub.core.ids import new_id
from tests.api.helpers import (
    LEDGER,
    MAX,
    assert_error,
    assert_journal_absent,
    balance,
    ledger_state,
    open_account,
    post_journal,
    posting,
    transfer,
)

BANK, WALLET, MERCHANT, USD = "bank:custody", "customer:c1:wallet", "merchant:m1", "fx:usd"
REJECTED = "rejected-1"
Ids = dict[str, str]


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> Ids:
    """Four accounts; the no-overdraft wallet holds 10 000 from journal `seed-1`."""
    made = {
        "bank": await open_account(client, BANK, side="debit"),
        "wallet": await open_account(client, WALLET, no_overdraft=True),
        "merchant": await open_account(client, MERCHANT),
        "usd": await open_account(client, USD, currency="USD"),
    }
    await post_journal(client, transfer(BANK, WALLET, 10_000, id="seed-1"))
    return {name: account["id"] for name, account in made.items()}


def pay(amount: Any, currency: str = "CNY", **fields: Any) -> Callable[[Ids], dict[str, Any]]:
    return lambda ids: transfer(BANK, MERCHANT, amount, currency=currency, id=REJECTED, **fields)


def body(value: dict[str, Any]) -> Callable[[Ids], dict[str, Any]]:
    return lambda ids: value


JOURNAL_CASES = [
    # Currencies
    pytest.param(
        pay(100, "XYZ"), 400, "currency_invalid", "postings[0].currency", id="unknown-currency"
    ),
    pytest.param(
        pay(100, "cny"), 400, "currency_invalid", "postings[0].currency", id="lowercase-currency"
    ),
    pytest.param(
        pay(100, ""), 400, "currency_invalid", "postings[0].currency", id="empty-currency"
    ),
    pytest.param(
        lambda ids: transfer(ids["bank"], ids["merchant"], 100, currency="USD", id=REJECTED),
        400,
        "currency_mismatch",
        "currency",
        id="currency-not-the-accounts-by-id",
    ),
    pytest.param(
        pay(100, "USD"), 404, "account_not_found", "account", id="currency-not-the-accounts-by-code"
    ),
    pytest.param(
        body(
            {
                "id": REJECTED,
                "postings": [posting(BANK, "debit", 100), posting(USD, "credit", 100, "USD")],
            }
        ),
        400,
        "journal_unbalanced",
        "postings",
        id="balanced-only-across-currencies",
    ),
    # Accounts
    pytest.param(
        body({"id": REJECTED, **transfer(BANK, "nobody:here", 100)}),
        404,
        "account_not_found",
        "account",
        id="unknown-account-code",
    ),
    pytest.param(
        lambda ids: transfer(ids["bank"], new_id("acct"), 100, id=REJECTED),
        404,
        "account_not_found",
        "account",
        id="unknown-account-id",
    ),
    # Amounts
    pytest.param(pay(0), 400, "amount_invalid", "postings[0].amount", id="zero-amount"),
    pytest.param(pay(-100), 400, "amount_invalid", "postings[0].amount", id="negative-amount"),
    pytest.param(pay(10.5), 400, "amount_invalid", "postings[0].amount", id="float-amount"),
    pytest.param(pay(100.0), 400, "amount_invalid", "postings[0].amount", id="whole-float"),
    pytest.param(pay("100"), 400, "amount_invalid", "postings[0].amount", id="string-amount"),
    pytest.param(pay(True), 400, "amount_invalid", "postings[0].amount", id="boolean-amount"),
    pytest.param(pay(None), 400, "amount_invalid", "postings[0].amount", id="null-amount"),
    pytest.param(pay(2**63), 400, "amount_too_large", "postings[0].amount", id="amount-2**63"),
    pytest.param(pay(10**30), 400, "amount_too_large", "postings[0].amount", id="amount-10**30"),
    # Journal shape
    pytest.param(
        body(
            {
                "id": REJECTED,
                "postings": [posting(BANK, "debit", 100), posting(MERCHANT, "credit", 99)],
            }
        ),
        400,
        "journal_unbalanced",
        "postings",
        id="unbalanced",
    ),
    pytest.param(
        body({"id": REJECTED, "postings": [posting(BANK, "debit", 100)]}),
        400,
        "journal_too_few_postings",
        "postings",
        id="one-posting",
    ),
    pytest.param(
        body({"id": REJECTED, "postings": []}),
        400,
        "journal_too_few_postings",
        "postings",
        id="no-postings",
    ),
    pytest.param(
        body({"id": REJECTED}), 400, "validation_error", "postings", id="postings-missing"
    ),
    pytest.param(
        lambda ids: transfer(BANK, MERCHANT, 100, id="bad id!"),
        400,
        "invalid_id",
        "id",
        id="malformed-journal-id",
    ),
    pytest.param(
        lambda ids: transfer(BANK, MERCHANT, 100, id="x" * 65),
        400,
        "validation_error",
        "id",
        id="journal-id-too-long",
    ),
    pytest.param(pay(100, bogus=1), 400, "validation_error", "bogus", id="unknown-field"),
    pytest.param(
        body({"id": REJECTED, "postings": [{**posting(BANK, "debit", 1), "memo": "x"}] * 2}),
        400,
        "validation_error",
        "postings[0].memo",
        id="unknown-posting-field",
    ),
    pytest.param(
        body({"id": REJECTED, "postings": [posting(BANK, "sideways", 1)] * 2}),
        400,
        "validation_error",
        "postings[0].side",
        id="unknown-side",
    ),
    pytest.param(pay(100, linked=True), 400, "validation_error", "linked", id="linked-alone"),
    pytest.param(
        pay(100, metadata={"k": 1}), 400, "validation_error", "metadata.k", id="metadata-not-string"
    ),
    pytest.param(
        pay(100, metadata={f"k{i}": "v" for i in range(51)}),
        400,
        "validation_error",
        "metadata",
        id="metadata-too-many-keys",
    ),
    # Funds and conflicts
    pytest.param(
        lambda ids: transfer(WALLET, MERCHANT, 10_001, id=REJECTED),
        402,
        "insufficient_funds",
        None,
        id="insufficient-funds",
    ),
    pytest.param(
        lambda ids: transfer(BANK, WALLET, 9_999, id="seed-1"),
        409,
        "journal_conflict",
        "id",
        id="same-id-other-content",
    ),
    pytest.param(
        lambda ids: transfer(BANK, WALLET, 10_000, id="seed-1", description="changed"),
        409,
        "journal_conflict",
        "id",
        id="same-id-other-description",
    ),
]


@pytest.mark.parametrize(("build", "status", "code", "param"), JOURNAL_CASES)
async def test_bad_journal(
    client: httpx.AsyncClient,
    ids: Ids,
    build: Callable[[Ids], dict[str, Any]],
    status: int,
    code: str,
    param: str | None,
) -> None:
    before = await ledger_state(client)
    response = await client.post(f"{LEDGER}/journals", json=build(ids))
    assert_error(response, status, code, param=param)
    assert response.headers["content-language"] == "en"
    assert await ledger_state(client) == before
    await assert_journal_absent(client, REJECTED)


# Alone, `linked` is refused; in a batch it links on to the next journal.
BATCH_CASES = [case for case in JOURNAL_CASES if case.id != "linked-alone"]


@pytest.mark.parametrize(("build", "status", "code", "param"), BATCH_CASES)
async def test_bad_journal_in_a_batch_is_rejected_alone(
    client: httpx.AsyncClient,
    ids: Ids,
    build: Callable[[Ids], dict[str, Any]],
    status: int,
    code: str,
    param: str | None,
) -> None:
    """In a batch the same journal gets the same code as an item error, or (when the body
    itself is malformed) the whole batch is refused; the good journal beside it posts only
    in the first case."""
    before = await ledger_state(client)
    good = transfer(BANK, MERCHANT, 1, id="good-1")
    response = await client.post(f"{LEDGER}/journals/batch", json={"journals": [build(ids), good]})
    if response.status_code == 200:
        results = response.json()["results"]
        assert results[0]["status"] == "rejected"
        assert results[0]["error"]["code"] == code
        assert results[1]["status"] == "created"
        assert (await balance(client, MERCHANT))["posted"] == 1
    else:
        error = assert_error(response, status, code)
        assert error["param"] == (None if param is None else f"journals[0].{param}")
        assert await ledger_state(client) == before
    await assert_journal_absent(client, REJECTED)


@pytest.mark.parametrize(
    "sinks",
    [
        pytest.param(["one", "one"], id="two-journals"),
        pytest.param(["one"], id="one-journal-two-lines"),
    ],
)
async def test_balance_overflow_is_amount_too_large(
    client: httpx.AsyncClient, sinks: list[str]
) -> None:
    for source in ("big:a", "big:b"):
        await open_account(client, source, side="debit")
    await open_account(client, "big:sink")
    if len(sinks) == 2:
        await post_journal(client, transfer("big:a", "big:sink", MAX))
        overflow = transfer("big:b", "big:sink", MAX, id=REJECTED)
    else:
        overflow = {
            "id": REJECTED,
            "postings": [
                posting("big:a", "debit", MAX),
                posting("big:b", "debit", MAX),
                posting("big:sink", "credit", MAX),
                posting("big:sink", "credit", MAX),
            ],
        }
    before = await ledger_state(client)
    response = await client.post(f"{LEDGER}/journals", json=overflow)
    assert_error(response, 400, "amount_too_large")
    assert await ledger_state(client) == before
    await assert_journal_absent(client, REJECTED)


async def test_hot_account_balance_cannot_overflow(client: httpx.AsyncClient) -> None:
    """Each of a hot account's shards holds at most its share of 2**63-1, so the total the
    balance endpoint sums can never overflow, whatever shard each posting lands on."""
    await open_account(client, "hot:sink", shards=2)
    half = MAX // 2
    statuses = []
    for i in range(6):
        await open_account(client, f"big:{i}", side="debit")
        response = await client.post(
            f"{LEDGER}/journals", json=transfer(f"big:{i}", "hot:sink", half)
        )
        statuses.append(response.json().get("error", {}).get("code", response.status_code))
    assert statuses[0] == 201
    assert set(statuses) <= {201, "amount_too_large"}
    assert statuses.count(201) <= 2
    assert "amount_too_large" in statuses
    posted = (await balance(client, "hot:sink"))["posted"]
    assert posted == half * statuses.count(201) <= MAX
    too_big = await client.post(f"{LEDGER}/journals", json=transfer("big:0", "hot:sink", half + 1))
    assert too_big.json()["error"]["code"] == "amount_too_large"


RAW_BODIES = [
    pytest.param(b'{"postings": [', "application/json", "malformed_json", id="truncated-json"),
    pytest.param(b"{'postings': []}", "application/json", "malformed_json", id="single-quotes"),
    pytest.param(b'{"postings": []} x', "application/json", "malformed_json", id="trailing-junk"),
    pytest.param(b"", "application/json", "validation_error", id="empty-json-body"),
    pytest.param(b"", None, "validation_error", id="no-body-at-all"),
    pytest.param(b"[]", "application/json", "validation_error", id="json-array"),
    pytest.param(b'"hello"', "application/json", "validation_error", id="json-string"),
    # Found by fuzzing: bytes that are not UTF-8 were a 500.
    pytest.param(b"\xff\xfe{", "application/json", "malformed_json", id="not-utf8"),
    pytest.param(b'{"id": "\xe9"}', "application/json", "malformed_json", id="latin1-in-json"),
]


@pytest.mark.parametrize("path", ["/journals", "/journals/batch", "/accounts", "/holds"])
@pytest.mark.parametrize(("content", "content_type", "code"), RAW_BODIES)
async def test_unreadable_body(
    client: httpx.AsyncClient,
    ids: Ids,
    path: str,
    content: bytes,
    content_type: str | None,
    code: str,
) -> None:
    before = await ledger_state(client)
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(f"{LEDGER}{path}", content=content, headers=headers)
    error = assert_error(response, 400, code)
    if code == "malformed_json":
        assert error["param"] is None
    assert await ledger_state(client) == before


async def test_batch_of_more_than_1000(client: httpx.AsyncClient, ids: Ids) -> None:
    before = await ledger_state(client)
    journals = [transfer(BANK, MERCHANT, 1) for _ in range(1001)]
    response = await client.post(f"{LEDGER}/journals/batch", json={"journals": journals})
    assert_error(response, 400, "batch_too_large", param="journals")
    assert "1000" in response.json()["error"]["message"]
    assert await ledger_state(client) == before


async def test_batch_of_exactly_1000_is_fine(client: httpx.AsyncClient, ids: Ids) -> None:
    journals = [transfer(BANK, MERCHANT, 1) for _ in range(1000)]
    response = await client.post(f"{LEDGER}/journals/batch", json={"journals": journals})
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1000
    assert (await balance(client, MERCHANT))["posted"] == 1000


async def test_empty_batch(client: httpx.AsyncClient, ids: Ids) -> None:
    before = await ledger_state(client)
    response = await client.post(f"{LEDGER}/journals/batch", json={"journals": []})
    assert_error(response, 400, "validation_error", param="journals")
    assert await ledger_state(client) == before


def _big_journal() -> bytes:
    body = transfer(BANK, MERCHANT, 1, id=REJECTED, description="x" * 400)
    body["metadata"] = {"pad": "y" * 1_100_000}
    return json.dumps(body).encode()


async def test_body_over_1mb_is_payload_too_large(client: httpx.AsyncClient, ids: Ids) -> None:
    before = await ledger_state(client)
    response = await client.post(
        f"{LEDGER}/journals", content=_big_journal(), headers={"content-type": "application/json"}
    )
    error = assert_error(response, 413, "payload_too_large", param=None)
    assert "1000000" in error["message"]
    assert await ledger_state(client) == before
    await assert_journal_absent(client, REJECTED)


async def test_chunked_body_over_1mb_is_payload_too_large(
    client: httpx.AsyncClient, ids: Ids
) -> None:
    data = _big_journal()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    before = await ledger_state(client)
    response = await client.post(
        f"{LEDGER}/journals", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")
    assert await ledger_state(client) == before


PATH_CASES = [
    pytest.param("GET", "/accounts/acct_!!!", "account", id="account-id"),
    pytest.param("GET", "/accounts/acct_!!!/balance", "account", id="balance-account-id"),
    pytest.param("GET", "/accounts/acct_!!!/entries", "account", id="entries-account-id"),
    pytest.param("GET", "/accounts/acct_123", "account", id="short-account-id"),
    pytest.param("GET", "/accounts/not a code", "account", id="account-code-with-spaces"),
    pytest.param("POST", "/accounts/acct_!!!", "account", id="update-account-id"),
    pytest.param("GET", "/journals/bad id!", "journal_id", id="journal-id"),
    pytest.param("POST", "/journals/bad id!/reverse", "journal_id", id="reverse-journal-id"),
    pytest.param("GET", "/holds/bad id!", "hold_id", id="hold-id"),
    pytest.param("POST", "/holds/bad id!/post", "hold_id", id="post-hold-id"),
    pytest.param("POST", "/holds/bad id!/void", "hold_id", id="void-hold-id"),
    pytest.param("GET", "/journals?starting_after=bad id!", "starting_after", id="journals-cursor"),
    pytest.param(
        "GET", "/accounts/bank:custody/entries?starting_after=x", "starting_after", id="ent-cursor"
    ),
    pytest.param("GET", "/accounts?starting_after=acct_!!!", "starting_after", id="acct-cursor"),
]


@pytest.mark.parametrize(("method", "path", "param"), PATH_CASES)
async def test_malformed_ids_in_the_url(
    client: httpx.AsyncClient, ids: Ids, method: str, path: str, param: str
) -> None:
    before = await ledger_state(client)
    json_body = {"name": "x"} if method == "POST" and path.startswith("/accounts") else None
    response = await client.request(method, f"{LEDGER}{path}", json=json_body)
    assert_error(response, 400, "invalid_id", param=param)
    assert await ledger_state(client) == before


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param(f"/accounts/{new_id('acct')}", "account_not_found", id="account-id"),
        pytest.param("/accounts/nobody:here", "account_not_found", id="account-code"),
        pytest.param(
            "/accounts/bank:custody?currency=USD", "account_not_found", id="code-other-cur"
        ),
        pytest.param("/accounts/nobody:here/balance", "account_not_found", id="balance"),
        pytest.param("/journals?account=nobody:here", "account_not_found", id="journals-of"),
        pytest.param("/journals/nope", "journal_not_found", id="journal"),
        pytest.param("/journals?starting_after=nope", "journal_not_found", id="journal-cursor"),
        pytest.param("/holds/nope", "hold_not_found", id="hold"),
    ],
)
async def test_unknown_objects_are_404(
    client: httpx.AsyncClient, ids: Ids, path: str, code: str
) -> None:
    assert_error(await client.get(f"{LEDGER}{path}"), 404, code)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-0"),
        pytest.param({"limit": 101}, "limit", id="limit-101"),
        pytest.param({"limit": "ten"}, "limit", id="limit-word"),
        pytest.param({"as_of": "yesterday"}, "as_of", id="as-of-word"),
        pytest.param({"as_of": "2026-01-01T00:00:00"}, "as_of", id="as-of-without-zone"),
    ],
)
async def test_bad_query_parameters(
    client: httpx.AsyncClient, ids: Ids, params: dict[str, Any], param: str
) -> None:
    path = "/balance" if "as_of" in params else "/entries"
    response = await client.get(f"{LEDGER}/accounts/{ids['wallet']}{path}", params=params)
    assert_error(response, 400, "validation_error", param=param)


async def test_list_accounts_with_bad_currency(client: httpx.AsyncClient, ids: Ids) -> None:
    response = await client.get(f"{LEDGER}/accounts", params={"currency": "XYZ"})
    assert_error(response, 400, "currency_invalid", param="currency")


ACCOUNT_CASES = [
    pytest.param({"code": "bad code!"}, 400, "account_code_invalid", "code", id="code-with-space"),
    pytest.param({"code": "a::b"}, 400, "account_code_invalid", "code", id="empty-segment"),
    pytest.param({"code": "trailing:"}, 400, "account_code_invalid", "code", id="trailing-colon"),
    pytest.param({"code": "货币:账户"}, 400, "account_code_invalid", "code", id="non-ascii"),
    pytest.param({"code": "x" * 161}, 400, "validation_error", "code", id="code-too-long"),
    pytest.param({"code": ""}, 400, "validation_error", "code", id="code-empty"),
    pytest.param(
        {"flags": {"debits_must_not_exceed_credits": True, "credits_must_not_exceed_debits": True}},
        400,
        "account_flags_invalid",
        "flags",
        id="both-flags",
    ),
    pytest.param(
        {"shards": 4, "flags": {"debits_must_not_exceed_credits": True}},
        400,
        "account_flags_invalid",
        "shards",
        id="hot-with-debit-limit",
    ),
    pytest.param(
        {"shards": 4, "flags": {"credits_must_not_exceed_debits": True}},
        400,
        "account_flags_invalid",
        "shards",
        id="hot-with-credit-limit",
    ),
    pytest.param(
        {"flags": {"overdraft": True}}, 400, "validation_error", "flags.overdraft", id="bad-flag"
    ),
    pytest.param({"shards": 0}, 400, "validation_error", "shards", id="zero-shards"),
    pytest.param({"shards": 257}, 400, "validation_error", "shards", id="too-many-shards"),
    pytest.param({"shards": 2.5}, 400, "validation_error", "shards", id="float-shards"),
    pytest.param({"currency": "XYZ"}, 400, "currency_invalid", "currency", id="unknown-currency"),
    pytest.param({"currency": "cny"}, 400, "currency_invalid", "currency", id="lowercase-currency"),
    pytest.param({"currency": "XAU"}, 400, "currency_invalid", "currency", id="gold-no-minor-unit"),
    pytest.param({"normal_side": "up"}, 400, "validation_error", "normal_side", id="bad-side"),
    pytest.param({"colour": "red"}, 400, "validation_error", "colour", id="unknown-field"),
    pytest.param(
        {"metadata": {"": "empty key"}},
        400,
        "validation_error",
        "metadata",
        id="metadata-empty-key",
    ),
    pytest.param(
        {"code": BANK, "normal_side": "debit"}, 409, "account_code_taken", "code", id="taken"
    ),
]


@pytest.mark.parametrize(("change", "status", "code", "param"), ACCOUNT_CASES)
async def test_bad_account(
    client: httpx.AsyncClient,
    ids: Ids,
    change: dict[str, Any],
    status: int,
    code: str,
    param: str,
) -> None:
    before = await ledger_state(client)
    account = {"code": "merchant:m2", "currency": "CNY", "normal_side": "credit", **change}
    response = await client.post(f"{LEDGER}/accounts", json=account)
    assert_error(response, status, code, param=param)
    assert await ledger_state(client) == before


async def test_same_code_in_another_currency_is_not_taken(
    client: httpx.AsyncClient, ids: Ids
) -> None:
    response = await client.post(
        f"{LEDGER}/accounts", json={"code": BANK, "currency": "USD", "normal_side": "debit"}
    )
    assert response.status_code == 201, response.text


# Holds and reversals


async def test_hold_beyond_funds(client: httpx.AsyncClient, ids: Ids) -> None:
    before = await ledger_state(client)
    response = await client.post(
        f"{LEDGER}/holds", json=transfer(WALLET, MERCHANT, 10_001, id=REJECTED)
    )
    assert_error(response, 402, "insufficient_funds")
    assert await ledger_state(client) == before
    assert_error(await client.get(f"{LEDGER}/holds/{REJECTED}"), 404, "hold_not_found")


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param(datetime.now(UTC) - timedelta(minutes=1), id="past"),
        pytest.param("2099-01-01T00:00:00", id="no-zone"),
        pytest.param("tomorrow", id="word"),
    ],
)
async def test_hold_with_bad_expiry(client: httpx.AsyncClient, ids: Ids, expires_at: Any) -> None:
    if isinstance(expires_at, datetime):
        expires_at = expires_at.isoformat()
    before = await ledger_state(client)
    response = await client.post(
        f"{LEDGER}/holds",
        json={**transfer(WALLET, MERCHANT, 5, id=REJECTED), "expires_at": expires_at},
    )
    assert_error(response, 400, "validation_error", param="expires_at")
    assert await ledger_state(client) == before


async def _pending_hold(client: httpx.AsyncClient) -> str:
    response = await client.post(f"{LEDGER}/holds", json=transfer(WALLET, MERCHANT, 1000))
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize(
    "postings",
    [
        pytest.param(transfer(WALLET, MERCHANT, 1001)["postings"], id="more-than-held"),
        pytest.param(transfer(WALLET, BANK, 500)["postings"], id="account-not-in-hold"),
        pytest.param(
            [
                *transfer(WALLET, MERCHANT, 600)["postings"],
                *transfer(WALLET, MERCHANT, 600)["postings"],
            ],
            id="split-lines-add-up-to-more",
        ),
    ],
)
async def test_hold_post_beyond_the_hold(
    client: httpx.AsyncClient, ids: Ids, postings: list[dict[str, Any]]
) -> None:
    hold_id = await _pending_hold(client)
    before = await ledger_state(client)
    response = await client.post(f"{LEDGER}/holds/{hold_id}/post", json={"postings": postings})
    assert_error(response, 400, "hold_post_exceeds_pending", param="postings")
    assert await ledger_state(client) == before
    assert (await client.get(f"{LEDGER}/holds/{hold_id}")).json()["status"] == "pending"


async def test_hold_post_beyond_the_hold_mixing_id_and_code(
    client: httpx.AsyncClient, ids: Ids
) -> None:
    hold_id = await _pending_hold(client)
    before = await ledger_state(client)
    postings = [
        posting(ids["wallet"], "debit", 600),
        posting(WALLET, "debit", 600),
        posting(ids["merchant"], "credit", 600),
        posting(MERCHANT, "credit", 600),
    ]
    response = await client.post(f"{LEDGER}/holds/{hold_id}/post", json={"postings": postings})
    assert_error(response, 400, "hold_post_exceeds_pending", param="postings")
    assert await ledger_state(client) == before


async def test_reverse_errors(client: httpx.AsyncClient, ids: Ids) -> None:
    hold_id = await _pending_hold(client)
    await post_journal(client, transfer(BANK, MERCHANT, 5, id="sale-1"))
    await client.post(f"{LEDGER}/journals/sale-1/reverse", json={"id": "sale-1-rev"})
    # The wallet spends most of what seed-1 gave it: undoing seed-1 would overdraw it.
    await post_journal(client, transfer(WALLET, MERCHANT, 8000))
    before = await ledger_state(client)

    cases = [
        ("nope", 404, "journal_not_found"),
        ("sale-1-rev", 409, "journal_not_reversible"),
        (hold_id, 409, "journal_not_reversible"),
        ("sale-1", 409, "journal_already_reversed"),
        ("seed-1", 402, "insufficient_funds"),
    ]
    for journal_id, status, code in cases:
        response = await client.post(f"{LEDGER}/journals/{journal_id}/reverse")
        assert_error(response, status, code)
    bad_id = await client.post(f"{LEDGER}/journals/seed-1/reverse", json={"id": "bad id!"})
    assert_error(bad_id, 400, "invalid_id", param="id")
    assert await ledger_state(client) == before


# Found by fuzzing: values of another JSON type were coerced (true as 1, 0 as false, a
# number as a Unix timestamp) and the request went through.
@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        pytest.param(
            "/v1/api_keys",
            {"name": "k", "scopes": ["read"], "expires_at": 0},
            "expires_at",
            id="number-as-time",
        ),
        pytest.param(
            "/v1/routing/rules", {"rules": [], "activate": 0}, "activate", id="number-as-bool"
        ),
        pytest.param(
            f"{LEDGER}/holds",
            {**transfer(WALLET, MERCHANT, 5), "expires_at": 4102444800},
            "expires_at",
            id="number-as-hold-expiry",
        ),
        pytest.param(
            f"{LEDGER}/accounts",
            {"code": "x:y", "currency": "CNY", "normal_side": "debit", "shards": True},
            "shards",
            id="bool-as-number",
        ),
    ],
)
async def test_values_are_never_coerced(
    client: httpx.AsyncClient, ids: Ids, path: str, body: dict[str, Any], param: str
) -> None:
    response = await client.post(path, json=body)
    assert_error(response, 400, "validation_error", param=param)


async def test_numbers_past_64_bits_in_the_path_are_refused(client: httpx.AsyncClient) -> None:
    # Found by fuzzing: it reached the database, which failed (500).
    response = await client.post(f"/v1/routing/rules/{2**64}/activate")
    assert_error(response, 400, "validation_error", param="version")


# Found by fuzzing on PostgreSQL, which refuses NUL in text and cannot encode an unpaired
# surrogate: both reached the database and answered 500.
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"name": "Shop\\u0000"}', id="nul"),
        pytest.param(b'{"name": "Shop \\udbdd"}', id="lone-surrogate"),
        pytest.param(b'{"name": "Shop", "metadata": {"k\\u0000": "v"}}', id="nul-in-a-key"),
    ],
)
async def test_text_a_database_cannot_store_is_refused(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    before = (await client.get("/v1/merchants")).json()["data"]
    response = await client.post(
        "/v1/merchants", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "validation_error")
    assert (await client.get("/v1/merchants")).json()["data"] == before
    # A pair of surrogates is one character, and fine.
    fine = await client.post(
        "/v1/merchants",
        content=b'{"name": "Shop \\ud83d\\ude00"}',
        headers={"content-type": "application/json"},
    )
    assert fine.status_code == 201, fine.text
    assert fine.json()["name"] == "Shop \N{GRINNING FACE}"


@pytest.mark.parametrize(
    "target",
    ["/v1/events?type=payment.%00", "/v1/audit/events?actor=a%00b", "/v1/customers/cus_%00"],
)
async def test_a_nul_in_the_url_is_refused(client: httpx.AsyncClient, target: str) -> None:
    assert_error(await client.get(target), 400, "validation_error")
