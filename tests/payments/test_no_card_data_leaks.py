"""No card number, account number or CVV anywhere PayHub writes: not in a log line, an API
answer, a webhook, nor any column of any table but the vault's ciphertext.

A full flow runs over HTTP while every logger records at DEBUG; then every place is
scanned. The scanner proves itself on planted data, so a scan that finds nothing means
there is nothing to find.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import LargeBinary

from payhub import jobs
from payhub.db.models import metadata
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.vault import testcards
from tests.events.receiver import Receiver, running_receiver
from tests.merchants.helpers import create_merchant, merchant_key
from tests.payments.helpers import EXP_YEAR, Shop, world
from tests.security.leaks import (
    Responses,
    Scanner,
    database_cells,
    digits,
    every_log_line,
    raw_record,
)

# CVVs: the API takes 3 or 4 digits for every card, so these are 4 digits, unlike any
# amount, balance, count or latency in this flow. A 3-digit CVV would sooner or later
# equal a timing (a webhook taking 739 ms). And only a value standing alone counts (a
# JSON value, `key=value`, a quoted value): the digits inside an id or a timestamp do not.
CVVS = {"PARTNER": "4827", "ICBC": "5936", "CCB": "6148", "CMB": "7391"}
BAD_CVV = "82715"  # refused by the API (five digits); it must not be echoed either
BANK_ACCOUNT = "6217 0012 3456 7890 321"
NOT_A_CARD = "6222 0212 3456 7890 12"  # a PAN that fails the Luhn check: refused, not echoed
# The vault's ciphertext: the only columns allowed to hold the numbers, encrypted.
CIPHERTEXT = {("vault_cards", "ciphertext"), ("vault_bank_accounts", "ciphertext")}


def test_the_ciphertext_columns_are_the_vaults_binary_columns() -> None:
    for table, column in CIPHERTEXT:
        assert isinstance(metadata.tables[table].columns[column].type, LargeBinary)


# --------------------------------------------------------------------------------- the flow


async def _confirm(shop: Shop, pid: str, cvv: str) -> dict[str, Any]:
    response = await shop.me.post(
        f"/v1/payments/{pid}/confirm", json={"cvv": cvv}, headers={"Idempotency-Key": pid}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _run_jobs(db: Database) -> None:
    done = await jobs.run_once(db)
    assert all(n >= 0 for n in done.values()), done


async def run_flow(
    client: httpx.AsyncClient, as_key: Any, db: Database, receiver: Receiver
) -> tuple[list[str], list[str], Responses]:
    responses = Responses()
    responses.watch(client)
    merchant = await create_merchant(client, name="Hotpot House")
    me = responses.watch(as_key(await merchant_key(client, merchant["id"])))
    customer = await me.post("/v1/customers", json={"name": "李雷", "phone": "+8613800138000"})
    assert customer.status_code == 201, customer.text
    shop = Shop(me, merchant["id"], customer.json()["id"])
    for who, owner in (("merchant", me), ("operator", client)):
        hook = await owner.post(
            "/v1/webhook_endpoints",
            json={"url": f"{receiver.url}?for={who}", "events": ["*"]},
        )
        assert hook.status_code == 201, hook.text

    cards: dict[str, tuple[str, str]] = {}
    for issuer, kind in (("PARTNER", "debit"), ("ICBC", "credit"), ("CCB", "debit")):
        cards[issuer] = await shop.card(issuer, kind)
    # CMB's card is written with spaces, as people type it, and bound twice.
    cmb = testcards.test_card("CMB", "credit")
    spaced = " ".join(cmb[i : i + 4] for i in range(0, len(cmb), 4))
    for expected in (201, 200):
        bound = await me.post(
            "/v1/payment_methods",
            json={
                "type": "card",
                "customer": shop.customer_id,
                "card": {"number": spaced, "exp_month": 6, "exp_year": EXP_YEAR},
            },
        )
        assert bound.status_code == expected, bound.text
    cards["CMB"] = (bound.json()["id"], cmb)
    account = await me.post(
        "/v1/payment_methods",
        json={
            "type": "bank_account",
            "bank_account": {
                "bank_code": "ICBC",
                "account_number": BANK_ACCOUNT,
                "holder_name": "Hotpot House Ltd",
            },
        },
    )
    assert account.status_code == 201, account.text
    refused = await me.post(
        "/v1/payment_methods",
        json={
            "type": "card",
            "card": {"number": NOT_A_CARD, "exp_month": 1, "exp_year": EXP_YEAR},
        },
    )
    assert refused.json()["error"]["code"] == "card_number_invalid", refused.text

    # Manual capture: confirm with a CVV, capture part, refund part.
    manual = await shop.paid(cards["PARTNER"][0], 5000, capture_method="manual")
    assert (await _confirm(shop, manual["id"], CVVS["PARTNER"]))["status"] == "requires_capture"
    captured = await me.post(f"/v1/payments/{manual['id']}/capture", json={"amount": 3000})
    assert captured.status_code == 200, captured.text
    refund = await me.post(
        "/v1/refunds", json={"payment": manual["id"], "amount": 1200, "reason": "cold soup"}
    )
    assert refund.status_code == 201, refund.text
    bad = await me.post(f"/v1/payments/{manual['id']}/confirm", json={"cvv": BAD_CVV})
    assert bad.status_code == 400, bad.text

    # Automatic capture, then a partial refund.
    auto = await shop.paid(cards["ICBC"][0], 3500)
    assert (await _confirm(shop, auto["id"], CVVS["ICBC"]))["status"] == "succeeded"
    partial = await me.post("/v1/refunds", json={"payment": auto["id"], "amount": 500})
    assert partial.status_code == 201, partial.text

    # A decline.
    declined = await shop.paid(cards["CCB"][0], 2600)
    with use_channels(world(hard_decline_rate=1.0)):
        assert (await _confirm(shop, declined["id"], CVVS["CCB"]))["status"] == "failed"

    # An authorisation released.
    voided = await shop.paid(cards["CMB"][0], 4100, capture_method="manual")
    assert (await _confirm(shop, voided["id"], CVVS["CMB"]))["status"] == "requires_capture"
    canceled = await me.post(f"/v1/payments/{voided['id']}/cancel")
    assert canceled.json()["status"] == "canceled", canceled.text

    await _run_jobs(db)
    await _run_jobs(db)

    # Everything there is to read back, as the merchant and as the operator.
    paths = [f"/v1/payment_methods/{token}" for token, _ in cards.values()]
    paths.append(f"/v1/payment_methods/{account.json()['id']}")
    for payment in (manual, auto, declined, voided):
        paths += [f"/v1/payments/{payment['id']}{part}" for part in ("", "/attempts", "/journals")]
    paths += [f"/v1/refunds/{refund.json()['id']}", f"/v1/refunds/{partial.json()['id']}"]
    paths += ["/v1/events?limit=100", "/v1/webhook_endpoints", "/v1/customers"]
    for path in paths:
        for reader in (me, client):
            read = await reader.get(path)
            assert read.status_code == 200, f"{path}: {read.text}"
    for hook in (await client.get("/v1/webhook_endpoints")).json()["data"]:
        await client.get(f"/v1/webhook_endpoints/{hook['id']}/deliveries")
    accounts = (await client.get("/v1/ledger/accounts?limit=100")).json()["data"]
    for ledger_account in accounts:
        await client.get(f"/v1/ledger/accounts/{ledger_account['id']}/entries")
    await client.get("/v1/ledger/journals?limit=100")

    # Every event reached both endpoints.
    events = (await client.get("/v1/events?limit=100")).json()["data"]
    delivered = [json.loads(r.body)["id"] for r in receiver.received]
    assert sorted(delivered) == sorted([e["id"] for e in events] * 2)

    numbers = [pan for _, pan in cards.values()] + [BANK_ACCOUNT, NOT_A_CARD]
    return numbers, [*CVVS.values(), BAD_CVV], responses


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def test_no_card_data_anywhere(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with every_log_line() as lines:
        numbers, cvvs, responses = await run_flow(client, as_key, db, receiver)
    scan = Scanner(numbers, cvvs)
    found: list[str] = []

    formatted = lines.getvalue().splitlines()
    assert len(formatted) > 100, "DEBUG logging should have written plenty"
    for i, line in enumerate(formatted):
        found += scan.text(f"log line {i}", line)
    assert caplog.records
    for record in caplog.records:
        found += scan.text(f"log record {record.name}", raw_record(record))
    found += scan.text("caplog", caplog.text)

    assert len(responses.bodies) > 50
    for where, body in responses.bodies:
        found += scan.text(f"answer to {where}", body)

    assert receiver.received
    for i, got in enumerate(receiver.received):
        found += scan.text(f"webhook {i}", got.body.decode())
        found += scan.text(f"webhook {i} headers", json.dumps(got.headers))

    cells = 0
    tables: set[str] = set()
    async for table, column, value in database_cells(db):
        cells += 1
        tables.add(table)
        if (table, column) in CIPHERTEXT:
            # Encrypted: not even the digits' bytes may show.
            blob = bytes(value)
            assert not any(digits(n).encode() in blob for n in numbers), (table, column)
            continue
        found += scan.value(f"{table}.{column}", value)
    assert {"vault_cards", "payments", "events", "idempotency_keys", "alembic_version"} <= tables
    assert cells > 500

    assert found == []

    # The scan finds what is there. A careless log line with a card number or a CVV: the
    # JSON formatter masks the one and redacts the other (a field named like a security
    # code), while the records themselves still hold both, and the scan says so.
    pan = numbers[0]
    with every_log_line() as planted:
        logging.getLogger("payhub.careless").warning("charging %s", pan)
        logging.getLogger("payhub.careless").info("confirm", extra={"cvv": cvvs[0]})
    careless = [r for r in caplog.records if r.name == "payhub.careless"]
    assert scan.text("planted record", raw_record(careless[0]))
    assert scan.text("planted record", raw_record(careless[1]))
    masked, with_cvv = planted.getvalue().splitlines()
    assert pan not in masked and pan[:6] in masked and pan[-4:] in masked
    assert not scan.text("planted line", with_cvv) and '"cvv": "[redacted]"' in with_cvv


async def test_the_scanner_finds_what_it_should_and_nothing_else(
    client: httpx.AsyncClient, db: Database
) -> None:
    pan = testcards.test_card("PARTNER", "debit")
    scan = Scanner([pan, BANK_ACCOUNT], ["4827"])
    assert scan.text("plain", f"card {pan}")
    assert scan.text("spaced", " ".join(pan[i : i + 4] for i in range(0, len(pan), 4)))
    assert scan.text("first fifteen", pan[:15])
    assert scan.text("account", digits(BANK_ACCOUNT))
    assert not scan.text("masked", pan[:6] + "*" * (len(pan) - 10) + pan[-4:])
    for leak in ('{"cvv": "4827"}', '{"card": {"code": 4827}}', "cvv=4827", "('x', '4827')"):
        assert scan.text("cvv", leak), leak
    for fine in (
        '{"id": "pay_01K4827XYZ", "ts": "2026-11-25T08:30:00.482731Z"}',
        '{"amount": 48270, "ms": 4827.5, "url": "http://127.0.0.1/4827x"}',
        "evt_04827 at 12:48:27",
    ):
        assert not scan.text("fine", fine), fine

    # A card number written into a table is found there, and in the answer that made it.
    merchant = await create_merchant(client, name="Careless Shop")
    made = await client.post(
        "/v1/customers",
        json={"merchant": merchant["id"], "name": "Buyer", "metadata": {"note": pan}},
    )
    assert scan.text("answer", made.text)
    found = [
        f"{table}.{column}"
        async for table, column, value in database_cells(db)
        if scan.value(table, value)
    ]
    assert found == ["customers.metadata"]
