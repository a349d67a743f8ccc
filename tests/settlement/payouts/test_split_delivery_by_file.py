"""A split batch delivered by bank file: its payouts are opened in transit on the
`bank_file` rail without any rail call, the dispatcher and the resolver leave them alone,
the pain.001 lists them all, and the bank's pain.002 settles them through the payouts' own
record-answer step. Late reports are listed, never failed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from payhub.auth import service as auth
from payhub.channels.sim.bankfiles import answer_pain001
from payhub.cli import app
from payhub.clikit import console
from payhub.core import clock
from payhub.core.clock import FrozenClock
from payhub.core.config import reset_settings_cache
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.iso20022 import pain001
from payhub.iso20022.schemas import MessageType
from payhub.payments.channels import use_channels
from payhub.settlement.calendar import load_calendar
from payhub.settlement.payouts import flow
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.models import Payout
from payhub.splits import bankfiles, runner, service
from payhub.splits.service import BatchOrder, LineIn
from tests.settlement.payouts.helpers import (
    available,
    balance,
    count_rows,
    ledger_is_balanced,
    network,
    open_party,
    rails_world,
)
from tests.settlement.payouts.split_helpers import Leader, open_leader, suppliers
from tests.settlement.payouts.test_split_bank_files import _assert_valid

Client = Callable[[str], httpx.AsyncClient]
XML = {"Content-Type": "application/xml"}
# Monday 2 November 2026, 10:00 in China: a business day, before its cut-off.
MONDAY = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


async def _desk(db: Database, as_key: Client) -> httpx.AsyncClient:
    issued = await db.run_in_transaction(
        lambda s: auth.issue_key(s, name="bank desk", role="operator", scopes=[auth.BANK_FILES])
    )
    return as_key(issued.secret)


async def _payouts_of(db: Database, batch_id: str) -> list[Payout]:
    async def read(session: object) -> list[Payout]:
        rows, _ = await payouts.list_payouts(
            session,  # type: ignore[arg-type]
            payouts.PayoutFilter(split_batch_id=batch_id),
            limit=100,
            starting_after=None,
        )
        return sorted(rows, key=lambda r: r.amount)

    return await db.run_in_transaction(read)


async def _create(leader: Leader, receivers: list[str], **extra: object) -> httpx.Response:
    return await leader.shop.me.post(
        "/v1/split_batches",
        json={
            "currency": "CNY",
            "payments": leader.payments,
            "lines": [{"receiver": r, "amount": 1_000 * (i + 1)} for i, r in enumerate(receivers)],
            **extra,
        },
        headers={"Idempotency-Key": f"batch-{len(receivers)}-{extra}"},
    )


async def test_a_bank_file_batch_goes_to_the_bank_only_by_its_file(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    rails = rails_world(success={"ibps": 0.0})  # other banks' transfers are refused
    sim = network(rails)
    with use_channels(rails):
        leader = await open_leader(db, client, as_key, [30_000])
        at_partner = await open_party(db, "Partner Farm", bank="PARTNER")
        elsewhere = await open_party(db, "Other Farm", bank="ICBC")
        third = await open_party(db, "Third Farm", bank="PARTNER")
        receivers = [at_partner, elsewhere, third]
        created = await _create(leader, [r.payee_id for r in receivers], delivery="bank_file")
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]
        assert created.json()["delivery"] == "bank_file"

        # The runner (the job's and the CLI's) opens the payouts: held, in transit, no call.
        await runner.run_batch(db, batch_id)
        assert sim.payouts() == []
        opened = await _payouts_of(db, batch_id)
        assert [p.status for p in opened] == ["in_transit"] * 3
        assert {p.rail for p in opened} == {payouts.BANK_FILE_RAIL}
        assert len({p.request_id for p in opened}) == 3
        for r, amount in zip(receivers, (1_000, 2_000, 3_000), strict=True):
            # Held for the file: still posted to the receiver, no longer available to it.
            assert await balance(db, f"merchant:{r.merchant_id}:available") == amount
            assert await available(db, r.merchant_id) == 0

        # Long after any rail would have answered, the jobs do not touch them.
        later = clock.now() + timedelta(hours=6)
        with clock.use_clock(FrozenClock(later)):
            assert await flow.resolve(db) == 0
            assert await flow.dispatch(db) == 0
            assert await runner.run_pending_batches(db) == 0
            unresolved = await db.run_in_transaction(
                lambda s: payouts.unresolved_payouts(s, grace=timedelta(0), limit=100)
            )
        assert [u for u in unresolved if u[0] in {p.id for p in opened}] == []
        assert sim.payouts() == []
        untouched = await _payouts_of(db, batch_id)
        assert [(p.status, p.last_answer) for p in untouched] == [("in_transit", None)] * 3

        desk = await _desk(db, as_key)
        exported = await desk.get(f"/v1/split_batches/{batch_id}/pain001")
        assert exported.status_code == 200, exported.text
        _assert_valid(exported.content, MessageType.PAIN_001)
        sent = pain001.read(exported.content)
        assert [t.end_to_end_id for t in sent.transfers] == [p.id for p in opened]
        assert [t.instruction_id for t in sent.transfers] == [p.request_id for p in opened]
        assert [t.amount for t in sent.transfers] == [1_000, 2_000, 3_000]

        answer = answer_pain001(sim, exported.content, default_rail="ibps", partner_bank="PARTNER")
        _assert_valid(answer, MessageType.PAIN_002)
        imported = await desk.post(
            f"/v1/split_batches/{batch_id}/pain002",
            content=answer,
            headers={**XML, "Idempotency-Key": "report-1"},
        )
        assert imported.status_code == 200, imported.text
        body = imported.json()
        assert body["status_report"]["paid"] == 2 and body["status_report"]["failed"] == 1
        assert [ln["status"] for ln in body["lines"]] == ["paid", "failed", "paid"]
        assert body["lines"][1]["failure_code"] == "payout_rejected"
        assert body["status"] == "partially_failed"

    # The bank executed each transfer from the file: in-house to its own customers, on
    # IBPS (refusing) to the other bank's.
    assert sorted(p.request_id for p in sim.payouts()) == sorted(
        [opened[0].request_id, opened[2].request_id]
    )
    refused = sim.lookup("ibps", opened[1].request_id)
    assert refused is not None and refused.raw_code != "00"
    assert await balance(db, f"merchant:{at_partner.merchant_id}:available") == 0
    assert await balance(db, f"merchant:{third.merchant_id}:available") == 0
    assert await balance(db, f"merchant:{elsewhere.merchant_id}:available") == 2_000
    assert await balance(db, "payout:bank_file:in_transit") == 0
    assert await ledger_is_balanced(db)


async def test_a_rails_batch_is_sent_on_its_rails(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    rails = rails_world()
    with use_channels(rails):
        leader = await open_leader(db, client, as_key, [10_000])
        (a, b) = await suppliers(db, 2)
        created = await _create(leader, [a.payee_id, b.payee_id])
        assert created.status_code == 201, created.text
        assert created.json()["delivery"] == "rails"
        done = await runner.run_batch(db, created.json()["id"])
    assert done.paid == 2
    assert len(network(rails).payouts()) == 2
    rows = await _payouts_of(db, created.json()["id"])
    assert payouts.BANK_FILE_RAIL not in {p.rail for p in rows}
    assert await ledger_is_balanced(db)


TABLES = ("split_batches", "split_lines", "split_covers", "ledger_journals", "events")


@pytest.mark.parametrize("delivery", ["fax", "", "BANK_FILE", None, 1])
async def test_a_bad_delivery_is_refused_and_writes_nothing(
    db: Database, client: httpx.AsyncClient, as_key: Client, delivery: object
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (a,) = await suppliers(db, 1)
    before = await count_rows(db, *TABLES)
    refused = await _create(leader, [a.payee_id], delivery=delivery)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "validation_error"
    assert await count_rows(db, *TABLES) == before

    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        lines=[LineIn(a.payee_id, amount=500)],
        payments=tuple(leader.payments),
        delivery=str(delivery),
    )
    with pytest.raises(PayHubError) as raised:
        await db.run_in_transaction(lambda s: service.create_batch(s, order))
    assert raised.value.code == "validation_error"
    assert await count_rows(db, *TABLES) == before


async def test_an_unanswered_file_payout_is_listed_overdue_never_failed(
    db: Database, client: httpx.AsyncClient, as_key: Client, tmp_path: Path, monkeypatch: object
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (a,) = await suppliers(db, 1)
    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        lines=[LineIn(a.payee_id, amount=700)],
        payments=tuple(leader.payments),
        delivery="bank_file",
    )
    with clock.use_clock(FrozenClock(MONDAY)) as moment:
        batch = await db.run_in_transaction(lambda s: service.create_batch(s, order))
        await runner.run_batch(db, batch.id)
        (payout,) = await _payouts_of(db, batch.id)

        async def overdue() -> list[str]:
            rows = await db.run_in_transaction(lambda s: bankfiles.overdue_payouts(s, days=2))
            return [r.id for r in rows]

        # Monday's file: Tuesday and Wednesday are the bank's two business days.
        for at, late in [
            (MONDAY + timedelta(days=1), False),  # Tuesday
            (MONDAY + timedelta(days=2, hours=12), False),  # Wednesday 22:00, before cut-off
            (MONDAY + timedelta(days=2, hours=14), True),  # Wednesday 24:00, after its cut-off
            (MONDAY + timedelta(days=9), True),
        ]:
            assert isinstance(moment, FrozenClock)
            moment.set(at)
            assert await overdue() == ([payout.id] if late else []), at
            assert await flow.resolve(db) == 0

        monkeypatch.setenv("PAYHUB_DATABASE_URL", db.url)  # type: ignore[attr-defined]
        monkeypatch.setattr(console, "width", 200)  # type: ignore[attr-defined]
        reset_settings_cache()

        def invoke() -> str:
            result = CliRunner().invoke(app, ["splits", "overdue", "--days", "2"])
            assert result.exit_code == 0, result.output
            return result.output

        try:
            output = await asyncio.to_thread(invoke)
        finally:
            reset_settings_cache()
    assert payout.id in output and "1 bank-file payouts overdue" in output
    (still,) = await _payouts_of(db, batch.id)
    assert still.status == "in_transit"
    assert await available(db, a.merchant_id) == 0


def test_the_overdue_cutoff_counts_business_days_over_a_weekend() -> None:
    calendar = load_calendar()
    friday_evening = datetime(2026, 11, 6, 15, 30, tzinfo=UTC)  # 23:30 in China
    # Friday's cut-off has passed: two business days back is Wednesday.
    cutoff = bankfiles.overdue_cutoff(friday_evening, 2, calendar)
    assert calendar.local_date(cutoff) == datetime(2026, 11, 4).date()
    next_tuesday = datetime(2026, 11, 10, 15, 30, tzinfo=UTC)
    cutoff = bankfiles.overdue_cutoff(next_tuesday, 2, calendar)
    assert calendar.local_date(cutoff) == datetime(2026, 11, 6).date()  # Friday


async def test_the_cli_creates_a_batch_for_the_bank_file(
    db: Database, client: httpx.AsyncClient, as_key: Client, tmp_path: Path, monkeypatch: object
) -> None:
    rails = rails_world()
    leader = await open_leader(db, client, as_key, [5_000])
    (a,) = await suppliers(db, 1)
    file = tmp_path / "batch.json"
    file.write_text(
        json.dumps(
            {
                "merchant": leader.merchant_id,
                "currency": "CNY",
                "payments": leader.payments,
                "lines": [{"receiver": a.payee_id, "amount": 4_000}],
            }
        )
    )
    monkeypatch.setenv("PAYHUB_DATABASE_URL", db.url)  # type: ignore[attr-defined]
    reset_settings_cache()

    def invoke() -> str:
        with use_channels(rails):
            result = CliRunner().invoke(
                app, ["splits", "create", str(file), "--delivery", "bank_file", "--run"]
            )
        assert result.exit_code == 0, result.output
        return result.output

    try:
        output = await asyncio.to_thread(invoke)
    finally:
        reset_settings_cache()
    assert "bank_file" in output
    assert network(rails).payouts() == []
    (batch,) = [b for b in await db.run_in_transaction(_all_batches)]
    (payout,) = await _payouts_of(db, batch)
    assert (payout.rail, payout.status) == (payouts.BANK_FILE_RAIL, "in_transit")


async def _all_batches(session: object) -> list[str]:
    rows, _ = await service.list_batches(
        session,  # type: ignore[arg-type]
        merchant_id=None,
        limit=10,
        starting_after=None,
    )
    return [r.id for r in rows]
