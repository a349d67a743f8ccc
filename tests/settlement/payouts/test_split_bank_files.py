"""A split batch's bank files end to end: the pain.001 export (scoped, audited, valid against
the XSD for two validators), the simulated bank's pain.002 answer, and its import through
the payouts' own record-answer step; bad reports write nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cache, partial
from importlib import resources
from pathlib import Path

import httpx
import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from typer.testing import CliRunner

from payhub.auth import service as auth
from payhub.channels.base import ChannelAdapter
from payhub.channels.sim.bankfiles import answer_pain001
from payhub.cli import app
from payhub.core import clock
from payhub.core.config import reset_settings_cache
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.iso20022 import pain001, pain002
from payhub.iso20022.pain002 import PaymentStatus, StatusOutcome, TransactionStatus
from payhub.iso20022.schemas import MessageType
from payhub.payments.channels import use_channels
from payhub.settlement.payouts.models import Payout
from payhub.splits import bankfiles, runner, service
from payhub.splits.service import BatchOrder, LineIn
from payhub.vault import service as vault
from tests.conftest import POSTGRES
from tests.settlement.payouts.helpers import (
    balance,
    count_rows,
    ledger_is_balanced,
    network,
    open_party,
    rails_world,
)
from tests.settlement.payouts.split_helpers import Leader, open_leader, suppliers

Client = Callable[[str], httpx.AsyncClient]
TABLES = ("payouts", "split_lines", "ledger_journals", "ledger_holds", "events")
XML = {"Content-Type": "application/xml"}


@cache
def _xsd(message: MessageType) -> tuple[etree.XMLSchema, xmlschema.XMLSchema]:
    path = resources.files("payhub.iso20022").joinpath(f"xsd/{message.value}.xsd")
    return etree.XMLSchema(etree.parse(str(path))), xmlschema.XMLSchema(str(path))


def _assert_valid(data: bytes, message: MessageType) -> None:
    """Both validators: libxml2 (what PayHub uses) and xmlschema (independent)."""
    libxml2, second = _xsd(message)
    libxml2.assertValid(etree.fromstring(data))
    second.validate(data.decode())


async def _bank_desk(db: Database, as_key: Client) -> httpx.AsyncClient:
    issued = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="bank desk", role="operator", scopes=[auth.BANK_FILES])
    )
    return as_key(issued.secret)


async def _batch_in_transit(db: Database, leader: Leader, receivers: list[str]) -> str:
    """A booked batch whose payouts are committed in transit and not yet answered (the
    file is how they reach the bank)."""
    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        lines=[LineIn(r, amount=1_000 * (i + 1)) for i, r in enumerate(receivers)],
        payments=tuple(leader.payments),
    )
    batch = await db.run_in_transaction(lambda s: service.create_batch(s, order))
    await db.run_in_transaction(partial(service.open_and_start, batch_id=batch.id, limit=100))
    return batch.id


async def _numbers(db: Database, tokens: list[str]) -> list[str]:
    async def reveal(session: object) -> list[str]:
        return [
            (await vault.reveal_bank_account(session, t)).account_number  # type: ignore[arg-type]
            for t in tokens
        ]

    return await db.run_in_transaction(reveal)


async def _audit_rows(db: Database) -> list[tuple[str, str | None, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT action, target_id, CAST(details AS TEXT) FROM audit_events ORDER BY id"
        )
        return [(r[0], r[1], r[2]) for r in rows.all()]


async def test_export_bank_answer_and_import_settle_the_batch(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    rails = rails_world(success={"ibps": 0.0})  # other banks' transfers are refused
    with use_channels(rails):
        leader = await open_leader(db, client, as_key, [30_000])
        at_partner = await open_party(db, "Partner Farm", bank="PARTNER")
        elsewhere = await open_party(db, "Other Farm", bank="ICBC")
        batch_id = await _batch_in_transit(db, leader, [at_partner.payee_id, elsewhere.payee_id])
        desk = await _bank_desk(db, as_key)

        exported = await desk.get(f"/v1/split_batches/{batch_id}/pain001")
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("application/xml")
        assert exported.headers["cache-control"] == "no-store"
        _assert_valid(exported.content, MessageType.PAIN_001)
        sent = pain001.read(exported.content)
        numbers = await _numbers(db, [at_partner.bank_account, elsewhere.bank_account])
        assert [t.creditor_account for t in sent.transfers] == numbers
        assert [t.amount for t in sent.transfers] == [1_000, 2_000]
        assert [t.local_instrument for t in sent.transfers] == ["partner_internal", "ibps"]
        assert sent.message_id.startswith(f"{batch_id}-")

        answer = answer_pain001(network(rails), exported.content, default_rail="ibps")
        _assert_valid(answer, MessageType.PAIN_002)
        report = pain002.read(answer)
        assert [s.status for s in report.transactions.values()] == [
            PaymentStatus.ACSC,
            PaymentStatus.RJCT,
        ]

        headers = {**XML, "Idempotency-Key": "report-1"}
        url = f"/v1/split_batches/{batch_id}/pain002"
        imported = await desk.post(url, content=answer, headers=headers)
        assert imported.status_code == 200, imported.text
        body = imported.json()
        assert body["status_report"] | {"message_id": ""} == {
            "message_id": "",
            "paid": 1,
            "failed": 1,
            "pending": 0,
            "unchanged": 0,
        }
        assert [ln["status"] for ln in body["lines"]] == ["paid", "failed"]
        assert body["lines"][1]["failure_code"] == "payout_rejected"
        replay = await desk.post(url, content=answer, headers=headers)
        assert replay.headers.get("idempotent-replayed") == "true"
        assert replay.json() == body

    # Paid: the money left custody; refused: back in the receiver's available balance.
    assert await balance(db, f"merchant:{at_partner.merchant_id}:available") == 0
    assert await balance(db, f"merchant:{elsewhere.merchant_id}:available") == 2_000
    assert await ledger_is_balanced(db)

    # The same report again (another key) changes nothing.
    before = await count_rows(db, *TABLES)
    again = await desk.post(url, content=answer, headers={**XML, "Idempotency-Key": "report-2"})
    assert again.status_code == 200, again.text
    assert again.json()["status_report"]["unchanged"] == 2
    assert await count_rows(db, *TABLES) == before

    # Each export and import is audited; no account number is in the audit log.
    audited = await _audit_rows(db)
    assert [a for a, t, _ in audited if t == batch_id].count(bankfiles.EXPORTED) == 1
    assert [a for a, t, _ in audited if t == batch_id].count(bankfiles.IMPORTED) == 2
    assert not any(n in repr(audited) for n in numbers)


async def test_the_export_needs_the_bank_files_scope(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (supplier,) = await suppliers(db, 1)
    batch_id = await _batch_in_transit(db, leader, [supplier.payee_id])
    for path in ("pain001", "pain002"):
        url = f"/v1/split_batches/{batch_id}/{path}"
        for caller in (client, leader.shop.me):  # the operator's usual key; the leader's
            response = await (
                caller.get(url) if path == "pain001" else caller.post(url, content=b"<x/>")
            )
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "permission_denied"
    refused = [a for a, t, _ in await _audit_rows(db) if t == batch_id]
    assert refused == [f"{bankfiles.EXPORTED} refused", f"{bankfiles.IMPORTED} refused"]


async def test_nothing_awaiting_the_bank_is_not_a_file(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (supplier,) = await suppliers(db, 1)
    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        lines=[LineIn(supplier.payee_id, amount=500)],
        payments=tuple(leader.payments),
    )
    batch = await db.run_in_transaction(lambda s: service.create_batch(s, order))
    desk = await _bank_desk(db, as_key)
    for _ in ("no payout yet", "paid by its rail"):
        response = await desk.get(f"/v1/split_batches/{batch.id}/pain001")
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "split_batch_nothing_to_export"
        await runner.run_batch(db, batch.id)
    missing = await desk.get("/v1/split_batches/spb_00000000000000000000000000/pain001")
    assert missing.status_code == 404


def _report(original: str, statuses: list[TransactionStatus]) -> bytes:
    return pain002.write(pain002.StatusReport.of("RPT-TEST", clock.now(), original, statuses))


@pytest.mark.parametrize("case", ["unknown payout", "other batch", "conflict", "malformed", "xsd"])
async def test_a_bad_report_writes_nothing(
    db: Database, client: httpx.AsyncClient, as_key: Client, case: str
) -> None:
    leader = await open_leader(db, client, as_key, [30_000])
    a, b = await suppliers(db, 2)
    batch_id = await _batch_in_transit(db, leader, [a.payee_id, b.payee_id])
    transfers = await db.run_in_transaction(lambda s: service.batch_transfers(s, batch_id))
    first, second = (t.end_to_end_id for t in transfers)
    paid = TransactionStatus(first, PaymentStatus.ACCC)
    original = f"{batch_id}-abcd"
    code = {"conflict": "bank_status_conflict", "other batch": "bank_file_mismatch"}.get(
        case, "bank_status_unknown_payout"
    )
    if case == "unknown payout":
        data = _report(original, [paid, TransactionStatus("po_unknown", PaymentStatus.ACSC)])
    elif case == "other batch":
        data = _report("spb_another-abcd", [paid])
    elif case == "conflict":
        # The second payout was paid by its rail; the bank now says it rejected it.
        await db.run_in_transaction(
            lambda s: service.record_answers(
                s, [(second, bankfiles.answer_of(TransactionStatus(second, PaymentStatus.ACSC)))]
            )
        )
        data = _report(original, [paid, TransactionStatus(second, PaymentStatus.RJCT, "AC04")])
    elif case == "malformed":
        data, code = b"<Document><unclosed>", "invalid_file"
    else:
        valid = _report(original, [paid])
        data, code = valid.replace(b"<TxSts>ACCC</TxSts>", b"<TxSts>PAID</TxSts>"), "invalid_file"
    before = await count_rows(db, *TABLES)
    desk = await _bank_desk(db, as_key)
    response = await desk.post(f"/v1/split_batches/{batch_id}/pain002", content=data, headers=XML)
    assert response.status_code in (400, 409), response.text
    assert response.json()["error"]["code"] == code
    assert await count_rows(db, *TABLES) == before
    statuses = {t.end_to_end_id: t.status for t in await db.run_in_transaction(
        lambda s: service.batch_transfers(s, batch_id)
    )}  # fmt: skip
    assert statuses[first] == "in_transit"


_STATES = ("pending", "in_transit", "paid", "failed", "returned")


@settings(max_examples=200, deadline=None)
@given(
    current=st.lists(st.sampled_from(_STATES), min_size=1, max_size=8),
    reported=st.lists(st.sampled_from(list(PaymentStatus)), min_size=8, max_size=8),
)
def test_a_report_is_refused_exactly_when_it_contradicts_a_settled_payout(
    current: list[str], reported: list[PaymentStatus]
) -> None:
    """Paid (or returned) reported rejected, or failed reported paid, refuses the whole
    report; anything else is accepted (pending statuses never contradict)."""
    rows = {f"po_{i}": Payout(id=f"po_{i}", status=s) for i, s in enumerate(current)}
    statuses = [TransactionStatus(p, reported[i]) for i, p in enumerate(rows)]
    report = pain002.StatusReport.of("RPT", clock.now(), "spb_x-0000", statuses)
    settled_paid, failed = ("paid", "returned"), ("failed",)
    contradicts = False
    for s in statuses:
        state = rows[s.end_to_end_id].status
        outcome = s.status.outcome
        contradicts |= outcome is StatusOutcome.FAILED and state in settled_paid
        contradicts |= outcome is StatusOutcome.PAID and state in failed
    try:
        plan = bankfiles._plan(report, "spb_x", rows)
    except PayHubError as error:
        assert contradicts and error.code == "bank_status_conflict"
    else:
        assert not contradicts and len(plan) == len(rows)


@pytest.mark.skipif(not POSTGRES, reason="concurrent imports need PostgreSQL's row locks")
async def test_concurrent_imports_of_one_report_settle_each_payout_once(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [60_000])
    receivers = await suppliers(db, 5)
    batch_id = await _batch_in_transit(db, leader, [r.payee_id for r in receivers])
    transfers = await db.run_in_transaction(lambda s: service.batch_transfers(s, batch_id))
    data = _report(
        f"{batch_id}-abcd",
        [TransactionStatus(t.end_to_end_id, PaymentStatus.ACSC) for t in transfers],
    )
    results = await asyncio.gather(
        *(
            db.run_in_transaction(lambda s: bankfiles.import_pain002(s, batch_id, data))
            for _ in range(4)
        )
    )
    assert sum(len(r.paid) for r in results) == 5
    assert sum(len(r.unchanged) for r in results) == 15
    assert await balance(db, "bank:custody") == 60_000 - 15_000
    assert await ledger_is_balanced(db)


async def test_the_cli_exports_and_imports(
    db: Database,
    client: httpx.AsyncClient,
    as_key: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rails: dict[str, ChannelAdapter],
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (supplier,) = await suppliers(db, 1)
    batch_id = await _batch_in_transit(db, leader, [supplier.payee_id])
    out, report = tmp_path / "batch.xml", tmp_path / "report.xml"
    monkeypatch.setenv("PAYHUB_DATABASE_URL", db.url)
    reset_settings_cache()

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, ["splits", *args])
        assert result.exit_code == 0, result.output
        return result.output

    try:
        exported = await asyncio.to_thread(invoke, "export-pain001", batch_id, "--out", str(out))
        assert "1 transfers" in exported and str(out) in exported
        assert out.stat().st_mode & 0o077 == 0  # readable by its owner only
        (number,) = await _numbers(db, [supplier.bank_account])
        assert number not in exported and number.encode() in out.read_bytes()
        report.write_bytes(answer_pain001(network(rails), out.read_bytes(), default_rail="ibps"))
        imported = await asyncio.to_thread(invoke, "import-pain002", batch_id, str(report))
        again = await asyncio.to_thread(invoke, "import-pain002", batch_id, str(report))
    finally:
        reset_settings_cache()
    assert "1 paid, 0 failed" in imported and "1 unchanged" in again
    assert await balance(db, f"merchant:{supplier.merchant_id}:available") == 0
