"""Channel settlement: each card channel's statement for a day is paid into custody on
its schedule; the journal clears `channel:<id>:clearing` to zero, expensing the fees not
booked at capture; a period is settled once."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from payhub.channels.base import ChannelAdapter, SettlementSchedule
from payhub.channels.sim.scenario import ScenarioError, builtin_scenario, scenario_from_data
from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.settlement.balances.channels import due_periods, period_of
from payhub.settlement.calendar import load_calendar
from tests.payments.helpers import count_rows, network
from tests.settlement.helpers import beijing, open_merchant, posted

CN = load_calendar("CN")


async def _run(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.post("/v1/channel_settlements/run")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_periods_follow_the_schedule_and_the_calendar() -> None:
    schedule = SettlementSchedule(delay_days=1, cutoff="23:00")
    friday = period_of(date(2026, 3, 6), schedule, CN)
    assert (friday.start, friday.end) == (beijing(2026, 3, 5, 23, 0), beijing(2026, 3, 6, 23, 0))
    assert friday.settles_on == date(2026, 3, 9)  # the weekend is skipped
    eve = period_of(date(2026, 2, 13), schedule, CN)
    assert eve.settles_on == date(2026, 2, 14)  # a working Saturday
    holiday = period_of(date(2026, 2, 16), SettlementSchedule(delay_days=0), CN)
    assert holiday.settles_on == date(2026, 2, 24)
    due = due_periods(schedule, CN, beijing(2026, 3, 9, 0, 0), beijing(2026, 3, 4, 23, 0))
    # Friday's money is in on Monday; Saturday's and Sunday's arrive on Tuesday.
    assert [p.day for p in due] == [date(2026, 3, 6)]


def test_scenario_schedules_default_and_validate() -> None:
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    assert data["channels"][0]["settlement"] == {"delay_days": 1, "cutoff": "23:00"}
    data["channels"][1]["settlement"] = {"delay_days": 2, "cutoff": "22:00"}
    scenario = scenario_from_data(data)
    info = scenario.info(data["channels"][1]["id"])
    assert info.settlement == SettlementSchedule(delay_days=2, cutoff="22:00")
    data["channels"][1]["settlement"] = {"delay_days": 2, "cutoff": "25:00"}
    with pytest.raises(ScenarioError):
        scenario_from_data(data)
    del data["channels"][1]["settlement"]
    assert scenario_from_data(data).info(data["channels"][1]["id"]).settlement == (
        SettlementSchedule()
    )


async def test_a_days_captures_and_refunds_are_paid_into_custody(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    channels: dict[str, ChannelAdapter],
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)
        first = await shop.capture(10_000)
        await shop.capture(5_000)
        await shop.refund(first, 2_000)
        lines = network(channels).statement(
            "partner_bank", beijing(2026, 3, 1, 23, 0), beijing(2026, 3, 2, 23, 0)
        )
        fees = sum(line.fee for line in lines)
        net = sum(line.net for line in lines)
        assert fees > 0 and net == 13_000 - fees
        # The channel's cost of each capture was booked in its journal (settlement.fees):
        # the statement's fees beyond that are expensed by the settlement journal.
        booked = await posted(db, "channel:partner_bank:fees")
        assert 0 < booked <= fees
        frozen.set(beijing(2026, 3, 2, 23, 30))  # the period is over, the money not yet in
        assert [p for p in (await _run(client))["data"] if p["lines"]] == []
        frozen.set(beijing(2026, 3, 3, 0, 0))  # Tuesday: Monday's money arrives
        ran = await _run(client)
        (paid,) = [p for p in ran["data"] if p["lines"]]
        assert paid["channel"] == "partner_bank"
        assert (paid["gross_captured"], paid["gross_refunded"]) == (15_000, 2_000)
        assert (paid["fees"], paid["fees_booked"], paid["net"]) == (fees, fees - booked, net)
        assert paid["journal"] == "chs_partner_bank_CNY_20260302"
        assert paid["statement_ref"].startswith("partner_bank/20260302/3/")
        assert paid["settles_on"] == "2026-03-03"
        assert await posted(db, "bank:custody") == net
        assert await posted(db, "channel:partner_bank:fees") == fees
        assert await posted(db, "channel:partner_bank:clearing") == 0
        before = await count_rows(db, "channel_settlements", "ledger_journals")
        again = await _run(client)
        assert again["periods"] == 0
        assert await count_rows(db, "channel_settlements", "ledger_journals") == before
        listed = await client.get("/v1/channel_settlements", params={"channel": "partner_bank"})
        assert listed.json()["data"][0]["id"] == "chs_partner_bank_CNY_20260302"


async def test_fees_booked_at_capture_are_not_expensed_twice(
    client: httpx.AsyncClient,
    as_key: Any,
    db: Database,
    channels: dict[str, ChannelAdapter],
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        # Nothing booked at capture by the payments themselves (a zero cost schedule): the
        # journals below stand for capture-time bookings, at moments the test chooses.
        free = {"bps": 0}
        zero = await client.post(
            "/v1/channel_cost_schedules",
            json={"channel": "partner_bank", "debit": free, "credit": free},
        )
        assert zero.status_code == 201, zero.text
        shop = await open_merchant(client, as_key)
        await shop.capture(10_000)
        await shop.capture(20_000)
        lines = network(channels).statement(
            "partner_bank", beijing(2026, 3, 1, 23, 0), beijing(2026, 3, 2, 23, 0)
        )
        first_fee, second_fee = (line.fee for line in lines)
        opened = await client.post(
            "/v1/ledger/accounts",
            json={"code": "channel:partner_bank:fees", "currency": "CNY", "normal_side": "debit"},
        )
        # Opened by the captures (with their zero costs) or here.
        assert opened.status_code in (201, 409), opened.text

        async def book(journal_id: str, fee: int) -> None:
            # As the capture journal would, when channel costs are booked at capture.
            made = await client.post(
                "/v1/ledger/journals",
                json={
                    "id": journal_id,
                    "postings": [
                        {"account": "channel:partner_bank:fees", "side": "debit",
                         "amount": fee, "currency": "CNY"},
                        {"account": "channel:partner_bank:clearing", "side": "credit",
                         "amount": fee, "currency": "CNY"},
                    ],
                },
            )  # fmt: skip
            assert made.status_code == 201, made.text

        await book("fee-first", first_fee)
        frozen.set(beijing(2026, 3, 2, 23, 0, 1))  # the second is booked after the cut-off
        await book("fee-second", second_fee)
        frozen.set(beijing(2026, 3, 3, 1, 0))
        (monday,) = [p for p in (await _run(client))["data"] if p["lines"]]
        assert monday["fees_booked"] == second_fee  # only what was not booked by then
        assert await posted(db, "channel:partner_bank:fees") == first_fee + 2 * second_fee
        frozen.set(beijing(2026, 3, 4, 1, 0))
        tuesday = [p for p in (await _run(client))["data"] if p["channel"] == "partner_bank"]
        assert [(p["lines"], p["fees_booked"]) for p in tuesday] == [(0, -second_fee)]
        # Over both periods every fee was expensed once, and clearing is empty.
        assert await posted(db, "channel:partner_bank:fees") == first_fee + second_fee
        assert await posted(db, "channel:partner_bank:clearing") == 0
        assert await posted(db, "bank:custody") == 30_000 - first_fee - second_fee
