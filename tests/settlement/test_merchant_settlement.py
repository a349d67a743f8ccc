"""Real-time and T+1 settlement through the API, with the clock crossing cut-offs, a
weekend and holidays; reserves held and released; refunds of settled money."""

from __future__ import annotations

from typing import Any

import httpx

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from tests.payments.helpers import count_rows, event_types
from tests.settlement.helpers import beijing, open_merchant, posted, run


async def test_t1_settles_at_the_next_business_days_cutoff_across_a_weekend(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 6, 10, 0))  # Friday 6 March 2026, 10:00 Beijing
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)
        await shop.capture(10_000)
        await run(client)
        assert await shop.balances() == {
            "pending": 10_000, "available": 0, "reserved": 0, "in_transit": 0
        }  # fmt: skip
        frozen.set(beijing(2026, 3, 6, 23, 30))  # Friday's cut-off passed: its window closed
        saturday = await shop.capture(2_000)  # after the cut-off: Monday's window
        await run(client)
        assert (await shop.balances())["available"] == 0  # settles on the next business day
        frozen.set(beijing(2026, 3, 8, 12, 0))  # Sunday: no cut-off, nothing runs
        await shop.capture(3_000)
        await run(client)
        assert (await shop.balances())["available"] == 0
        frozen.set(beijing(2026, 3, 9, 22, 59))  # Monday, one minute before the cut-off
        await run(client)
        assert (await shop.balances())["available"] == 0
        frozen.set(beijing(2026, 3, 9, 23, 0))  # Monday's cut-off: Friday's window is due
        result = await run(client)
        assert result["settled"] == 10_000
        assert await shop.balances() == {
            "pending": 5_000, "available": 10_000, "reserved": 0, "in_transit": 0
        }  # fmt: skip
        frozen.set(beijing(2026, 3, 10, 23, 5))  # Tuesday: the weekend's window
        await run(client)
        assert (await shop.balances())["available"] == 15_000
        runs = await shop.settlements(kind="daily")
        assert [(r["business_day"], r["amount"]) for r in runs if r["amount"]] == [
            ("2026-03-10", 5_000),
            ("2026-03-09", 10_000),
        ]
        assert runs[0]["journal"] == f"stl_d_{shop.id}_CNY_20260310"
        assert runs[0]["window_end"] == "2026-03-09T15:00:00Z"
        assert saturday["amount"] == 2_000
    assert "balance.settled" in await event_types(db)


async def test_t1_rolls_over_the_mid_autumn_holiday(client: httpx.AsyncClient, as_key: Any) -> None:
    frozen = FrozenClock(beijing(2026, 9, 24, 10, 0))  # Thursday before Mid-Autumn
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)
        await shop.capture(8_000)
        for moment in (
            beijing(2026, 9, 25, 23, 30),  # Friday: a holiday, no cut-off
            beijing(2026, 9, 27, 23, 30),  # Sunday
        ):
            frozen.set(moment)
            await run(client)
            assert (await shop.balances())["available"] == 0
        frozen.set(beijing(2026, 9, 28, 23, 0))  # Monday 28 September: the next business day
        await run(client)
        assert (await shop.balances())["available"] == 8_000


async def test_t1_over_national_day_pays_on_the_adjusted_saturday(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    frozen = FrozenClock(beijing(2026, 9, 30, 9, 0))  # Wednesday before National Day
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)
        await shop.capture(4_000)  # window of 30 September
        frozen.set(beijing(2026, 10, 3, 9, 0))
        await shop.capture(6_000)  # a holiday: window of Thursday 8 October
        frozen.set(beijing(2026, 10, 7, 23, 30))
        await run(client)
        assert (await shop.balances())["available"] == 0
        frozen.set(beijing(2026, 10, 8, 23, 0))  # first day back: 30 September's money
        await run(client)
        assert (await shop.balances())["available"] == 4_000
        frozen.set(beijing(2026, 10, 10, 23, 0))  # Saturday 10 October is a working day
        await run(client)
        assert await shop.balances() == {
            "pending": 0, "available": 10_000, "reserved": 0, "in_transit": 0
        }  # fmt: skip


async def test_realtime_settles_at_capture_holding_the_reserve_until_it_is_released(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(
            client, as_key, mode="realtime", reserve_bps=1000, reserve_days=3
        )
        payment = await shop.capture(10_005)
        # 10% of 10 005 is 1 000.5: half-even to 1 000.
        assert await shop.balances() == {
            "pending": 0, "available": 9_005, "reserved": 1_000, "in_transit": 0
        }  # fmt: skip
        (entry,) = await shop.settlements()
        assert (entry["kind"], entry["amount"], entry["reserve"]) == ("realtime", 10_005, 1_000)
        journals = (await client.get(f"/v1/payments/{payment['id']}/journals")).json()["data"]
        assert entry["reference"] == journals[0]["id"]
        assert entry["journal"] == f"stl_rt_{journals[0]['id']}"
        assert entry["reserve_release_at"] == "2026-03-05T02:00:00Z"
        frozen.set(beijing(2026, 3, 5, 9, 59))
        assert (await run(client))["reserves_released"] == 0
        frozen.set(beijing(2026, 3, 5, 10, 0))
        assert (await run(client))["reserves_released"] == 1
        assert await shop.balances() == {
            "pending": 0, "available": 10_005, "reserved": 0, "in_transit": 0
        }  # fmt: skip
        assert (await run(client))["reserves_released"] == 0  # released once
    assert "balance.reserve_released" in await event_types(db)
    assert await posted(db, f"merchant:{shop.id}:available") == 10_005


async def test_refund_of_realtime_money_comes_from_available_then_reserve(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(
            client, as_key, mode="realtime", reserve_bps=1000, reserve_days=3
        )
        payment = await shop.capture(10_000)
        await shop.refund(payment, 9_500)
        assert await shop.balances() == {
            "pending": 0, "available": 0, "reserved": 500, "in_transit": 0
        }  # fmt: skip
        refunds = await shop.settlements(kind="refund")
        assert [(r["amount"], r["available"], r["reserve_taken"]) for r in refunds] == [
            (-9_500, -9_000, 500)
        ]
        frozen.set(beijing(2026, 3, 5, 10, 0))
        await run(client)  # the reserve release gives back what is left of it
        assert await shop.balances() == {
            "pending": 0, "available": 500, "reserved": 0, "in_transit": 0
        }  # fmt: skip


async def test_refund_beyond_the_balances_is_recovered_from_later_money(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)  # T+1
        first = await shop.capture(10_000)
        frozen.set(beijing(2026, 3, 3, 23, 0))  # Tuesday: Monday's window settles
        await run(client)
        assert (await shop.balances())["available"] == 10_000
        await shop.configure(mode="realtime")
        frozen.set(beijing(2026, 3, 4, 9, 0))
        second = await shop.capture(1_000)
        assert (await shop.balances())["available"] == 11_000
        await shop.refund(first, 10_000)
        await shop.refund(second, 1_000)
        assert await shop.balances() == {
            "pending": 0, "available": 0, "reserved": 0, "in_transit": 0
        }  # fmt: skip


async def test_t1_refund_of_settled_money_is_taken_back_at_the_next_run(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)
        payment = await shop.capture(10_000)
        frozen.set(beijing(2026, 3, 3, 23, 0))
        await run(client)
        frozen.set(beijing(2026, 3, 4, 9, 0))
        await shop.refund(payment, 4_000)
        assert await shop.balances() == {
            "pending": -4_000, "available": 10_000, "reserved": 0, "in_transit": 0
        }  # fmt: skip
        frozen.set(beijing(2026, 3, 5, 23, 0))  # Thursday: Wednesday's window (the refund)
        result = await run(client)
        assert result["recovered"] == 4_000
        assert await shop.balances() == {
            "pending": 0, "available": 6_000, "reserved": 0, "in_transit": 0
        }  # fmt: skip


async def test_runs_are_idempotent(client: httpx.AsyncClient, as_key: Any, db: Database) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(client, as_key, reserve_bps=200, reserve_days=7)
        await shop.capture(50_000)
        frozen.set(beijing(2026, 3, 3, 23, 0))
        first = await run(client)
        before = await count_rows(db, "ledger_journals", "settlement_entries", "events")
        for _ in range(3):
            again = await run(client)
            assert again["runs"] == 0 and again["settled"] == 0
        assert await count_rows(db, "ledger_journals", "settlement_entries", "events") == before
        assert first["settled"] == 50_000
        assert await shop.balances() == {
            "pending": 0, "available": 49_000, "reserved": 1_000, "in_transit": 0
        }  # fmt: skip


async def test_missed_days_are_caught_up_one_by_one(client: httpx.AsyncClient, as_key: Any) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 10, 0))
    with use_clock(frozen):
        shop = await open_merchant(client, as_key)
        for day in (2, 3, 4):
            frozen.set(beijing(2026, 3, day, 12, 0))
            await shop.capture(1_000 * day)
            if day == 2:
                await run(client)  # the first run: Saturday 28 February (a working day), empty
        frozen.set(beijing(2026, 3, 6, 23, 30))  # no run since Monday morning
        result = await run(client)
        assert result["runs"] == 5  # 2, 3, 4, 5 and 6 March
        days = {r["business_day"]: r["amount"] for r in await shop.settlements(kind="daily")}
        assert days == {
            "2026-02-28": 0, "2026-03-02": 0, "2026-03-03": 2_000,
            "2026-03-04": 3_000, "2026-03-05": 4_000, "2026-03-06": 0,
        }  # fmt: skip


async def test_a_year_the_calendar_lacks_defers_settlement_but_never_fails_a_capture(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    """2028 is not in the calendar file: a real-time merchant's capture goes through and
    its money waits in pending; the settlement run refuses, naming the year, and moves
    nothing rather than settle on a guessed business day."""
    with use_clock(FrozenClock(beijing(2028, 3, 2, 10, 0))):
        shop = await open_merchant(client, as_key, mode="realtime")
        payment = await shop.capture(10_000)
        assert payment["status"] == "succeeded"
        assert await shop.balances() == {
            "pending": 10_000, "available": 0, "reserved": 0, "in_transit": 0
        }  # fmt: skip
        assert await shop.settlements() == []
        answer = await client.post("/v1/settlements/run", json={})
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "calendar_year_unknown" and "2028" in error["message"]
        assert (await shop.balances())["pending"] == 10_000
        assert await shop.settlements() == []
