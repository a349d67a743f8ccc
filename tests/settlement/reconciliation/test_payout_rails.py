"""Payout rails reconciled against their statements: the rail's payouts and returns
against the payouts we recorded paid or returned, through the same engine, API and
command line as the card channels."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelAdapter, ChannelResult, ChannelStatus, StatementKind
from payhub.core import clock
from payhub.core.clock import FrozenClock
from payhub.db.session import Database
from payhub.payments.channels import get_channels, use_channels
from payhub.risk.sanctions import screening
from payhub.settlement.payouts import flow
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.config import PayoutConfig, use_config
from payhub.settlement.payouts.service import PayoutOrder
from payhub.settlement.reconciliation import service
from payhub.settlement.reconciliation.engine import DEFAULT_LATE_WINDOW, day_bounds
from payhub.settlement.reconciliation.injection import Injected, Injection, inject
from payhub.settlement.reconciliation.statements import to_csv
from tests.api.helpers import assert_error
from tests.payments.helpers import count_rows
from tests.processes import fresh_database
from tests.settlement.payouts.helpers import (
    Party,
    available,
    balance,
    ledger_is_balanced,
    open_party,
    rails_world,
)
from tests.settlement.reconciliation.helpers import breaks_of, found
from tests.test_cli import Cli, flat

RAIL = "ibps"
DAY = date(2031, 3, 10)
START, END = day_bounds(DAY)
R = "/v1/reconciliation"


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    """Deterministic payout rails (and card channels), fresh for each test."""
    with use_channels(rails_world()) as installed:
        yield dict(installed)


@pytest.fixture(autouse=True)
def payout_config() -> Iterator[PayoutConfig]:
    with use_config(PayoutConfig()) as config:
        yield config


@pytest.fixture(autouse=True)
def fresh_watch_index() -> Iterator[None]:
    screening.forget_index()
    yield
    screening.forget_index()


@pytest.fixture
def moment() -> Iterator[FrozenClock]:
    with clock.use_clock(FrozenClock(START + timedelta(hours=8))) as frozen:
        assert isinstance(frozen, FrozenClock)
        yield frozen


def _order(party: Party, amount: int) -> PayoutOrder:
    return PayoutOrder(
        merchant_id=party.merchant_id,
        amount=amount,
        currency="CNY",
        destination=party.payee_id,
        rail=RAIL,
        instant=True,
    )


async def _pay(db: Database, party: Party, amount: int) -> str:
    (row,) = await flow.create_and_send(db, _order(party, amount))
    assert row.status == "paid" and row.rail == RAIL
    return row.id


async def _day_of_payouts(db: Database, moment: FrozenClock, party: Party) -> list[str]:
    """Ten payouts through the day (every ten minutes from 08:00) and three inside the late
    window before the cut-off."""
    ids = []
    for i in range(10):
        ids.append(await _pay(db, party, 10_000 + 137 * i))
        moment.advance(timedelta(minutes=10))
    for minutes in (15, 20, 25):
        moment.set(END - timedelta(minutes=minutes))
        ids.append(await _pay(db, party, 20_000 + minutes))
    return ids


async def _statement(channels: dict[str, ChannelAdapter], day: date) -> list[Any]:
    start, end = day_bounds(day)
    return await channels[RAIL].statement(RAIL, start, end)


async def _return(db: Database, channels: dict[str, ChannelAdapter], payout_id: str) -> None:
    """The beneficiary bank sends the payout back now, and the returns job books it."""

    async def row(session: AsyncSession) -> Any:
        return await payouts.get_payout(session, payout_id, merchant_id=None)

    payout = await db.run_in_transaction(row)
    network = channels[RAIL].network  # type: ignore[attr-defined]
    assert network.inject_return(RAIL, payout.request_id)
    answer = await channels[RAIL].query_payout(payout.request_id)
    assert answer.raw_code == "RT"
    await db.run_in_transaction(lambda s: payouts.record_return_check(s, payout_id, answer))


async def test_a_clean_day_with_a_return_has_no_break(
    db: Database, channels: dict[str, ChannelAdapter], moment: FrozenClock
) -> None:
    party = await open_party(db, "Tea House", funds=1_000_000)
    ids = [await _pay(db, party, 5_000 + i) for i in range(4)]
    moment.advance(timedelta(hours=2))
    await _return(db, channels, ids[1])
    moment.set(END + timedelta(hours=1))
    lines = await _statement(channels, DAY)
    assert [ln.kind for ln in lines].count(StatementKind.RETURN) == 1

    run, created = await db.run_in_transaction(
        lambda s: service.run_fetched(s, channel_id=RAIL, day=DAY)
    )
    assert created and run.source == "channel"
    assert run.breaks_found == 0 and run.break_counts == {}
    assert run.lines == run.matched_count == 5
    paid = sum(5_000 + i for i in range(4))
    # Money out of custody by the rail: the payouts, less the one that came back.
    assert run.matched_amounts == {"CNY": -paid + 5_001}


async def test_every_break_type_on_a_rail_and_the_timing_break_closes(
    client: httpx.AsyncClient,
    db: Database,
    channels: dict[str, ChannelAdapter],
    moment: FrozenClock,
) -> None:
    party = await open_party(db, "Fresh Farm", funds=5_000_000)
    await _day_of_payouts(db, moment, party)
    moment.set(END + timedelta(hours=1))
    injected = inject(
        await _statement(channels, DAY),
        Injection(
            missing_on_statement=1,
            missing_in_ledger=1,
            amount_mismatch=1,
            duplicate=1,
            timing=1,
            lost_references=2,
        ),
        seed=11,
        day_end=END,
        late_window=DEFAULT_LATE_WINDOW,
    )
    made = await client.post(
        f"{R}/runs",
        content=to_csv(injected.statement),
        headers={"content-type": "text/csv", "idempotency-key": "rail-day-1"},
        params={"channel": RAIL, "date": DAY.isoformat()},
    )
    assert made.status_code == 201, made.text
    run = made.json()
    assert await found(db, run["id"]) == injected.expected()
    rows = {r["type"]: r for r in await breaks_of(db, run["id"])}
    # Bank paid it, we recorded it paid: the statement misses it → custody back, to suspense.
    missing = rows["missing_on_statement"]["proposed_journal"]["postings"]
    assert [(p["account"], p["side"]) for p in missing] == [
        ("bank:custody", "debit"),
        ("recon:suspense", "credit"),
    ]
    # A payout we never made left custody: suspense holds it while it is recovered.
    unknown = rows["missing_in_ledger"]["proposed_journal"]["postings"]
    assert [(p["account"], p["side"]) for p in unknown] == [
        ("recon:suspense", "debit"),
        ("bank:custody", "credit"),
    ]
    assert rows["timing"]["proposed_journal"] is None

    # The next day's statement brings the late line: the timing break closes itself.
    nxt = DAY + timedelta(days=1)
    moment.set(END + timedelta(days=1, hours=1))
    second = await client.post(
        f"{R}/runs",
        content=to_csv(injected.next_day),
        headers={"content-type": "text/csv", "idempotency-key": "rail-day-2"},
        params={"channel": RAIL, "date": nxt.isoformat()},
    )
    assert second.status_code == 201, second.text
    assert second.json()["timing_closed"] == 1 and second.json()["breaks_found"] == 0


async def test_paid_by_the_rail_but_recorded_failed_is_resolved_through_the_api(
    client: httpx.AsyncClient,
    db: Database,
    channels: dict[str, ChannelAdapter],
    moment: FrozenClock,
) -> None:
    party = await open_party(db, "Rice Mill", funds=200_000)
    made, calls = await db.run_in_transaction(
        lambda s: payouts.create_and_start(s, _order(party, 30_000))
    )
    (call,) = calls
    answer = await flow.call_rail(call)
    assert answer.status is ChannelStatus.APPROVED  # the rail paid the payee
    # ... but its answer was lost and a query found nothing: we recorded it failed.
    lost = ChannelResult(ChannelStatus.NOT_FOUND)
    failed = await db.run_in_transaction(
        lambda s: payouts.record_answer(s, made[0].id, lost, by_query=True)
    )
    assert failed.status == "failed"
    # A second one the rail paid, whose return the returns job has not booked yet.
    returned = await _pay(db, party, 7_000)
    network = channels[RAIL].network  # type: ignore[attr-defined]
    assert network.inject_return(RAIL, (await _request_id(db, returned)))
    before = await available(db, party.merchant_id)
    custody = await balance(db, "bank:custody")

    moment.set(END + timedelta(hours=1))
    made_run = await client.post(
        f"{R}/runs", json={"channel": RAIL, "date": DAY.isoformat()}
    )  # fetched from the rail
    assert made_run.status_code == 201, made_run.text
    run = made_run.json()
    assert run["break_counts"] == {"missing_in_ledger": 2}
    listed = (await client.get(f"{R}/breaks", params={"run": run["id"]})).json()["data"]
    by_kind = {b["kind"]: b for b in listed}
    unbooked_return = by_kind["return"]
    assert unbooked_return["proposed_journal"] is None
    assert "payouts.returns" in unbooked_return["note"]
    paid_not_failed = by_kind["payout"]
    assert paid_not_failed["payment"] == failed.id
    assert "recorded failed" in paid_not_failed["note"]
    assert paid_not_failed["proposed_journal"]["postings"] == [
        {
            "account": f"merchant:{party.merchant_id}:available",
            "side": "debit",
            "amount": 30_000,
            "currency": "CNY",
        },
        {"account": "bank:custody", "side": "credit", "amount": 30_000, "currency": "CNY"},
    ]

    path = f"{R}/breaks/{paid_not_failed['id']}/resolve"
    body = {"action": "post_proposed", "reason": "the rail confirmed it paid the payee"}
    resolved = await client.post(path, json=body, headers={"idempotency-key": "pay-res-1"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert await available(db, party.merchant_id) == before - 30_000
    assert await balance(db, "bank:custody") == custody - 30_000
    assert await ledger_is_balanced(db)
    # Nothing to post for the unbooked return: refused, nothing written.
    tables = ("ledger_journals", "reconciliation_breaks")
    counts = await count_rows(db, *tables)
    refused = await client.post(
        f"{R}/breaks/{unbooked_return['id']}/resolve",
        json={"action": "post_proposed", "reason": "book it"},
        headers={"idempotency-key": "pay-res-2"},
    )
    assert_error(refused, 409, "reconciliation_no_journal")
    assert await count_rows(db, *tables) == counts


async def test_a_write_off_lets_the_platform_bear_a_paid_failed_payout(
    db: Database, channels: dict[str, ChannelAdapter], moment: FrozenClock
) -> None:
    party = await open_party(db, "Bean Stall", funds=100_000)
    made, calls = await db.run_in_transaction(
        lambda s: payouts.create_and_start(s, _order(party, 12_000))
    )
    await flow.call_rail(calls[0])
    await db.run_in_transaction(
        lambda s: payouts.record_answer(
            s, made[0].id, ChannelResult(ChannelStatus.NOT_FOUND), by_query=True
        )
    )
    before = await available(db, party.merchant_id)
    moment.set(END + timedelta(hours=1))
    run, _ = await db.run_in_transaction(lambda s: service.run_fetched(s, channel_id=RAIL, day=DAY))
    (row,) = await breaks_of(db, run.id)
    await db.run_in_transaction(
        lambda s: service.resolve_break(s, row["id"], action="write_off", reason="our loss")
    )
    assert await available(db, party.merchant_id) == before  # the merchant keeps it
    assert await balance(db, "recon:write_offs") == 12_000
    assert await ledger_is_balanced(db)


async def _request_id(db: Database, payout_id: str) -> str:
    async def read(session: AsyncSession) -> str:
        return (await payouts.get_payout(session, payout_id, merchant_id=None)).request_id

    return await db.run_in_transaction(read)


def test_the_command_line_reconciles_a_rail(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        cli = Cli(url, tmp_path)
        cli.run("migrate")

        async def seed() -> Injected:
            db = Database(url, pool_size=1)
            try:
                with clock.use_clock(FrozenClock(START + timedelta(hours=8))) as moment:
                    assert isinstance(moment, FrozenClock)
                    party = await open_party(db, "Tofu Works", funds=1_000_000)
                    for i in range(4):
                        await _pay(db, party, 3_000 + i)
                        moment.advance(timedelta(minutes=5))
                    lines = await _statement(dict(get_channels()), DAY)
            finally:
                await db.dispose()
            return inject(
                lines,
                Injection(missing_on_statement=1, missing_in_ledger=1),
                seed=3,
                day_end=END,
                late_window=DEFAULT_LATE_WINDOW,
            )

        injected = asyncio.run(seed())
        path = tmp_path / "ibps.csv"
        path.write_bytes(to_csv(injected.statement))
        day = DAY.isoformat()
        out = flat(
            cli.run("recon", "run", "--channel", RAIL, "--date", day, "--file", str(path)).stdout
        )
        assert "missing_in_ledger 1, missing_on_statement 1" in out
