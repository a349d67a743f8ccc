"""The built-in rules against constructed histories: each fires on its pattern and stays
silent on the near miss. Decisions are made through `decide` itself, on the real tables,
under a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payhub.core.clock import FrozenClock, use_clock
from payhub.core.ids import new_id
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.risk.decisions import service as risk
from payhub.risk.decisions.features import PARTY_ROWS, Signals, Subject
from payhub.risk.decisions.service import Decision

SHANGHAI = (31.230, 121.474)
BEIJING = (39.904, 116.407)
HANGZHOU = (30.274, 120.155)
URUMQI = (43.825, 87.617)


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    clock = FrozenClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    with use_clock(clock):
        yield clock


class Party:
    """A merchant's customer and card, paying through `decide` at the frozen clock's time."""

    def __init__(self, db: Database, clock: FrozenClock, merchant_id: str, customer_id: str):
        self.db, self.clock = db, clock
        self.merchant_id, self.customer_id = merchant_id, customer_id
        self.card = "fp_" + new_id("card")

    async def pay(
        self,
        amount: int = 5_000,
        *,
        at: tuple[float, float] | None = None,
        card: str | None = None,
        customer: str | None = "same",
        device: str | None = None,
        after: timedelta = timedelta(seconds=0),
    ) -> Decision:
        self.clock.advance(after)
        subject = Subject(
            merchant_id=self.merchant_id,
            customer_id=self.customer_id if customer == "same" else customer,
            card_fingerprint=card or self.card,
            amount=amount,
            currency="CNY",
            scene="local_services",
            signals=Signals(
                device_id=device,
                ip="203.0.113.7",
                latitude=at[0] if at else None,
                longitude=at[1] if at else None,
            ),
        )
        return await self.db.transact(lambda sql: risk.decide(sql, new_id("pay"), subject))


@pytest.fixture
async def party(db: Database, frozen: FrozenClock) -> Party:
    async def make(session: Any) -> tuple[str, str]:
        merchant = await merchants.create_merchant(session, merchants.MerchantSpec(name="Tea"))
        customer = await merchants.create_customer(
            session, merchant_id=merchant.id, name="王小明", home_region="CN-SH"
        )
        return merchant.id, customer.id

    merchant_id, customer_id = await db.run_in_transaction(make)
    return Party(db, frozen, merchant_id, customer_id)


def fired(decision: Decision) -> set[str]:
    return {f["rule"] for f in decision.fired}


async def test_a_first_payment_is_approved_with_its_features_recorded(party: Party) -> None:
    decision = await party.pay(at=SHANGHAI)
    assert decision.outcome == "approve" and decision.score == 0 and decision.fired == []
    f = decision.features
    assert f["customer.count_24h"] == 0 and f["card.age_hours"] == 0.0
    assert f["geo.km_from_home"] is not None and f["geo.km_from_home"] < 1
    assert f["travel.km_from_last"] is None  # nothing to travel from yet
    assert f["device.count_1h"] is None  # no device named: unknown, not zero
    assert decision.rules_version == 0 and decision.took_us > 0


async def test_velocity_counts_each_window(party: Party) -> None:
    for _ in range(3):
        await party.pay(after=timedelta(minutes=1))
    await party.pay(after=timedelta(minutes=50))  # at minute 53
    decision = await party.pay(after=timedelta(minutes=9))  # at 62: the first is 61 min old
    f = decision.features
    assert (f["customer.count_10m"], f["customer.count_1h"], f["customer.count_24h"]) == (1, 3, 4)
    assert f["customer.amount_24h"] == 4 * 5_000 and f["card.count_24h"] == 4
    assert f["customer.seconds_since_last"] == 540.0
    assert f["customer.merchants_24h"] == 1 and f["card.customers_24h"] == 1


async def test_high_frequency_small_amounts(party: Party) -> None:
    for _ in range(7):
        await party.pay(900, after=timedelta(minutes=2))
    near_miss = await party.pay(900, after=timedelta(minutes=2))  # 7 before it
    assert "high_frequency_small_amounts" not in fired(near_miss)
    hit = await party.pay(900, after=timedelta(minutes=2))  # 8 before it
    assert "high_frequency_small_amounts" in fired(hit) and hit.outcome != "approve"
    # A large payment after them is not a small one.
    large = await party.pay(50_000, after=timedelta(minutes=1))
    assert "high_frequency_small_amounts" not in fired(large)


async def test_small_amounts_spread_over_more_than_an_hour_are_not_high_frequency(
    party: Party,
) -> None:
    for _ in range(12):
        await party.pay(900, after=timedelta(minutes=9))
    decision = await party.pay(900, after=timedelta(minutes=9))
    assert decision.features["customer.small_count_1h"] == 6
    assert "high_frequency_small_amounts" not in fired(decision)


async def test_impossible_travel(party: Party) -> None:
    await party.pay(at=SHANGHAI)
    hit = await party.pay(at=BEIJING, after=timedelta(minutes=30))  # ~1070 km in half an hour
    assert "impossible_travel" in fired(hit) and hit.features["travel.speed_kmh"] > 2000
    # By train: Beijing → Hangzhou (~1120 km) in five hours is possible.
    near_miss = await party.pay(at=HANGZHOU, after=timedelta(hours=5))
    assert "impossible_travel" not in fired(near_miss)
    assert 150 < (near_miss.features["travel.speed_kmh"] or 0) < 900


async def test_far_from_home(party: Party) -> None:
    near_miss = await party.pay(at=HANGZHOU)
    assert "far_from_home" not in fired(near_miss)
    hit = await party.pay(at=URUMQI, after=timedelta(days=2))
    assert "far_from_home" in fired(hit) and (hit.features["geo.km_from_home"] or 0) > 3000


async def test_structuring_just_under_the_reporting_line(party: Party) -> None:
    first = await party.pay(4_900_000)  # ¥49,000: just under ¥50,000, once is not a pattern
    assert first.features["amount.near_threshold"] is True
    assert "structuring_below_threshold" not in fired(first)
    hit = await party.pay(4_990_000, after=timedelta(hours=3))
    assert "structuring_below_threshold" in fired(hit)
    at_the_line = await party.pay(5_000_000, after=timedelta(hours=1))  # reported anyway
    assert at_the_line.features["amount.near_threshold"] is False
    assert "structuring_below_threshold" not in fired(at_the_line)


async def test_structuring_a_day_apart_is_not_counted(party: Party) -> None:
    await party.pay(4_950_000)
    later = await party.pay(4_950_000, after=timedelta(hours=25))
    assert "structuring_below_threshold" not in fired(later)


async def test_a_burst_on_a_new_card(party: Party) -> None:
    for _ in range(5):
        await party.pay(20_000, after=timedelta(minutes=3))
    hit = await party.pay(20_000, after=timedelta(minutes=3))
    assert "new_card_velocity" in fired(hit)


async def test_the_same_burst_on_a_card_with_history_is_not_new_card_velocity(
    party: Party,
) -> None:
    await party.pay(20_000)
    for n in range(5):
        await party.pay(20_000, after=timedelta(hours=25) if n == 0 else timedelta(minutes=3))
    decision = await party.pay(20_000, after=timedelta(minutes=3))
    assert decision.features["card.count_1h"] == 5 and decision.features["card.age_hours"] > 25
    assert "new_card_velocity" not in fired(decision)


async def test_one_card_many_customers_and_one_device_many_cards(party: Party) -> None:
    await party.pay(customer="cus_other0", after=timedelta(minutes=5))
    near_miss = await party.pay(after=timedelta(minutes=5))
    assert near_miss.features["card.customers_24h"] == 2  # this payment's customer included
    assert "card_shared_by_customers" not in fired(near_miss)
    shared = await party.pay(customer="cus_other1", after=timedelta(minutes=5))
    assert shared.features["card.customers_24h"] == 3
    assert "card_shared_by_customers" in fired(shared)
    for n in range(4):
        await party.pay(card=f"fp_device_card{n}", device="dev-1", after=timedelta(minutes=5))
    again = await party.pay(card="fp_device_card3", device="dev-1")
    assert again.features["device.cards_24h"] == 4
    assert "device_with_many_cards" not in fired(again)
    hit = await party.pay(card="fp_device_card4", device="dev-1", after=timedelta(minutes=1))
    assert hit.features["device.cards_24h"] == 5 and "device_with_many_cards" in fired(hit)


async def test_an_amount_far_above_the_usual(party: Party) -> None:
    for _ in range(5):
        await party.pay(10_000, after=timedelta(days=1))
    near_miss = await party.pay(99_000, after=timedelta(days=1))
    assert "amount_far_above_usual" not in fired(near_miss)
    hit = await party.pay(300_000, after=timedelta(days=1))  # usual now ~24,800
    assert "amount_far_above_usual" in fired(hit)


async def test_two_patterns_together_decline(party: Party) -> None:
    await party.pay(4_900_000, at=SHANGHAI)
    decision = await party.pay(4_900_000, at=BEIJING, after=timedelta(minutes=20))
    assert {"structuring_below_threshold", "impossible_travel"} <= fired(decision)
    assert decision.outcome == "decline" and decision.score == 100


async def test_a_partys_windows_read_at_most_its_latest_rows(party: Party) -> None:
    # A party paying thousands of times cannot make every decision on it slow: past the
    # cap, counts are floors (the rules' thresholds are far below it).
    for _ in range(PARTY_ROWS + 5):
        await party.pay(900, after=timedelta(seconds=5))
    decision = await party.pay(900, after=timedelta(seconds=5))
    f = decision.features
    assert f["card.count_24h"] == PARTY_ROWS and f["customer.count_24h"] == PARTY_ROWS
    assert f["customer.count_10m"] == 120  # the last 10 minutes are within the cap
    assert decision.outcome == "decline"  # small amounts at this rate, on a new card
