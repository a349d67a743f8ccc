"""`POST /v1/payment_methods/{token}/detokenize`: the number in clear, only for a platform
key holding the `detokenize` scope, each use in the audit log with who, which token and why."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from payhub.audit.models import AuditEvent
from payhub.auth import service as auth
from payhub.db.session import Database
from payhub.vault.service import DETOKENIZED
from payhub.vault.testcards import test_card as make_card
from tests.vault.test_payment_methods_api import card_body, setup_merchant

REASON = {"reason": "chargeback case CB-2041: the issuer asks for the full number"}


async def _platform_key(db: Database, *scopes: str) -> tuple[str, str]:
    issued = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="vault officer", role="operator", scopes=list(scopes))
    )
    return issued.id, issued.secret


async def _audit(db: Database) -> list[AuditEvent]:
    async with db.session() as s:
        return list((await s.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())


async def _all_rows_text(db: Database) -> str:
    """Every row of every table but the vault's own, as text."""
    out = []
    async with db.engine.connect() as conn:
        names = [
            "audit_events",
            "idempotency_keys",
            "api_keys",
            "events",
            "payments",
            "customers",
            "merchants",
        ]
        for name in names:
            out += [repr(tuple(r)) for r in (await conn.execute(text(f"SELECT * FROM {name}")))]
    return "\n".join(out)


@pytest.fixture
async def card(client: httpx.AsyncClient, as_key: Any) -> tuple[Any, str, str, str]:
    """A merchant's client, its id, a card token and the card's number."""
    me, merchant_id, customer_id = await setup_merchant(client, as_key)
    pan = make_card("ICBC", "credit")
    made = await me.post("/v1/payment_methods", json=card_body(pan, customer_id))
    assert made.status_code == 201, made.text
    return me, merchant_id, made.json()["id"], pan


async def test_the_scope_reveals_the_number_and_the_log_records_it(
    as_key: Any, db: Database, card: tuple[Any, str, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, merchant_id, token, pan = card
    key_id, secret = await _platform_key(db, "detokenize")
    officer: httpx.AsyncClient = as_key(secret)

    shown = await officer.post(
        f"/v1/payment_methods/{token}/detokenize",
        json=REASON,
        headers={"Idempotency-Key": "reveal-1"},
    )
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    body = shown.json()
    assert body["object"] == "detokenized_payment_method" and body["id"] == token
    assert (body["type"], body["merchant"]) == ("card", merchant_id)
    assert body["card"]["number"] == pan and body["card"]["issuer"] == "ICBC"
    assert body["bank_account"] is None

    (record,) = [r for r in await _audit(db) if r.action == DETOKENIZED]
    assert record.id == body["audit_event"]
    assert (record.actor, record.actor_role) == (f"key:{key_id}", "operator")
    assert (record.target_type, record.target_id) == ("payment_method", token)
    assert record.details == {
        "purpose": "operator",
        "type": "card",
        "merchant": merchant_id,
        "reason": REASON["reason"],
    }

    # A replay says it was revealed, without the number (the stored answer never held it).
    replay = await officer.post(
        f"/v1/payment_methods/{token}/detokenize",
        json=REASON,
        headers={"Idempotency-Key": "reveal-1"},
    )
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == {**body, "card": None}
    # Nowhere outside the vault: not in the audit log, the idempotency table, the logs.
    assert pan not in await _all_rows_text(db)
    assert pan not in caplog.text


async def test_without_the_scope_it_is_refused(
    client: httpx.AsyncClient, as_key: Any, db: Database, card: tuple[Any, str, str, str]
) -> None:
    me, _, token, pan = card
    path = f"/v1/payment_methods/{token}/detokenize"
    before = [r.id for r in await _audit(db)]
    # A merchant key, even for its own card: never. No audit record (no platform key tried).
    refused = await me.post(path, json=REASON)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert [r.id for r in await _audit(db)] == before
    # The operator's everyday key: `operator` does not include `detokenize`.
    refused = await client.post(path, json=REASON)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    # A platform key with every other scope.
    _, compliance = await _platform_key(db, "operator", "compliance", "read", "write")
    refused = await as_key(compliance).post(path, json=REASON)
    assert refused.status_code == 403
    tried = [r for r in await _audit(db) if r.action == f"{DETOKENIZED} refused"]
    assert len(tried) == 2 and {r.target_id for r in tried} == {token}
    assert pan not in refused.text and pan not in _dump(await _audit(db))
    # A card number passed as the token is not recorded anywhere.
    await client.post(f"/v1/payment_methods/{pan}/detokenize", json=REASON)
    assert pan not in await _all_rows_text(db)


def _dump(rows: list[AuditEvent]) -> str:
    return json.dumps([r.details for r in rows]) + repr([r.target_id for r in rows])


async def test_bad_requests(as_key: Any, db: Database, card: tuple[Any, str, str, str]) -> None:
    _, _, token, pan = card
    _, secret = await _platform_key(db, "detokenize")
    officer: httpx.AsyncClient = as_key(secret)
    path = f"/v1/payment_methods/{token}/detokenize"
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, None):
        refused = await officer.post(path, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"]["param"] in ("reason", None), refused.text
    missing = await officer.post(
        "/v1/payment_methods/card_01M8900000000000000000000A/detokenize", json=REASON
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "payment_method_not_found"
    bad = await officer.post(f"/v1/payment_methods/{pan}/detokenize", json=REASON)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_id"
    assert pan not in bad.text
    # A card number typed into the reason is kept masked.
    shown = await officer.post(path, json={"reason": f"customer read out {pan} on the phone"})
    assert shown.status_code == 200
    records = [r for r in await _audit(db) if r.action == DETOKENIZED]
    assert pan not in records[-1].details["reason"]
    assert pan[:6] in records[-1].details["reason"]
    assert [r.action for r in await _audit(db)].count(DETOKENIZED) == 1


async def test_a_bank_account(client: httpx.AsyncClient, as_key: Any, db: Database) -> None:
    me, merchant_id, _ = await setup_merchant(client, as_key)
    account = {"bank_code": "ICBC", "account_number": "6222 0211 0000 7777", "holder_name": "张三"}
    made = await me.post(
        "/v1/payment_methods", json={"type": "bank_account", "bank_account": account}
    )
    assert made.status_code == 201, made.text
    _, secret = await _platform_key(db, "detokenize")
    shown = await as_key(secret).post(
        f"/v1/payment_methods/{made.json()['id']}/detokenize", json=REASON
    )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["type"] == "bank_account" and body["card"] is None
    assert body["bank_account"] == {
        "account_number": "6222021100007777",
        "bank_code": "ICBC",
        "holder_name": "张三",
    }
    (record,) = [r for r in await _audit(db) if r.action == DETOKENIZED]
    assert record.details["type"] == "bank_account" and record.details["merchant"] == merchant_id
    assert "6222021100007777" not in await _all_rows_text(db)
