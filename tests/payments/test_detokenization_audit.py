"""Every time a confirm decrypts a card for a channel adapter, the audit log says so: which
channel, which token, which payment, at whose request; in the payment's own transaction;
never the card number."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from payhub.audit import service as audit
from payhub.audit.models import AuditEvent
from payhub.db.session import Database
from payhub.payments import orchestrator
from payhub.payments import service as steps
from payhub.payments.channels import use_channels
from payhub.vault.service import DETOKENIZED
from tests.payments.helpers import count_rows, open_shop, world


async def _audit(db: Database) -> list[AuditEvent]:
    async with db.session() as s:
        return list((await s.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())


def _dump(rows: list[AuditEvent]) -> str:
    return json.dumps(
        [{c.name: getattr(r, c.name) for c in AuditEvent.__table__.columns} for r in rows],
        default=str,
    )


async def test_each_channel_that_gets_the_card_is_recorded(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, pan = await shop.card("ICBC", "debit")
    payment = await shop.paid(token)
    # The first channel declines softly, so the card goes to a second one.
    with use_channels(world(success={"unionpay_quick": 0.0})):
        body = (await shop.me.post(f"/v1/payments/{payment['id']}/confirm")).json()
    assert body["status"] == "succeeded"
    attempts = (await shop.me.get(f"/v1/payments/{payment['id']}/attempts")).json()["data"]

    rows = await _audit(db)
    used = [r for r in rows if r.action == DETOKENIZED]
    assert [(r.actor, r.actor_role) for r in used] == [
        ("channel:unionpay_quick", "channel"),
        ("channel:netsunion", "channel"),
    ]
    for row, attempt in zip(used, sorted(attempts, key=lambda a: a["id"]), strict=True):
        assert (row.target_type, row.target_id) == ("payment_method", token)
        assert row.details["payment"] == payment["id"]
        assert row.details["merchant"] == shop.merchant_id
        assert row.details["attempt"] == attempt["id"]
        assert row.details["channel"] == attempt["channel"]
        assert row.details["purpose"] == "sale"
        # The merchant's key asked for the confirm.
        assert row.details["requested_by"].startswith("key:")
    assert pan not in _dump(rows) and pan[6:-4] not in _dump(rows)


async def test_an_operator_confirm_keeps_its_own_record_too(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    payment = await shop.paid(token, capture_method="manual")
    confirmed = await client.post(f"/v1/payments/{payment['id']}/confirm")
    assert confirmed.json()["status"] == "requires_capture", confirmed.text
    actions = [r.action for r in await _audit(db)]
    assert DETOKENIZED in actions
    assert "operator POST /v1/payments/{payment_id}/confirm" in actions


async def test_the_record_and_the_payment_change_commit_together(
    client: httpx.AsyncClient, as_key: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card()
    payment = await shop.paid(token)
    before = await count_rows(db, "audit_events", "payment_attempts")

    # The payment's change fails after the record was made: no record stays.
    async def broken_save(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(steps, "_save", broken_save)
        with pytest.raises(RuntimeError):
            await orchestrator.confirm_payment(db, payment["id"], None)
    assert await count_rows(db, "audit_events", "payment_attempts") == before

    # The record cannot be written: the payment does not move either.
    real_record = audit.record

    async def refusing_record(tx: Any, action: str, **kwargs: Any) -> str:
        if action == DETOKENIZED:
            raise RuntimeError("the audit log is unavailable")
        return await real_record(tx, action, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(audit, "record", refusing_record)
        with pytest.raises(RuntimeError):
            await orchestrator.confirm_payment(db, payment["id"], None)
    assert await count_rows(db, "audit_events", "payment_attempts") == before
    shown = (await shop.me.get(f"/v1/payments/{payment['id']}")).json()
    assert shown["status"] == "requires_confirmation"

    # And when both work, both are there.
    step = await orchestrator.confirm_payment(db, payment["id"], None)
    assert step.payment.status == "succeeded"
    actions = [r.action for r in await _audit(db)]
    assert actions.count(DETOKENIZED) == 1
