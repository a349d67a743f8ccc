"""The large-value rules on constructed flows: thresholds at their boundaries, same-day
cumulation per customer (in and out apart, categories apart), the China Standard Time day
against the UTC one, and a property: splitting transactions never changes who is reported."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.risk.reports.large_value import (
    Flow,
    card_flow,
    china_day,
    day_bounds,
    day_is_over,
    payout_flow,
    reportable,
    reported_customers,
)

DAY = date(2026, 12, 1)
# 10:00 in Beijing on DAY.
NOON = datetime(2026, 12, 1, 2, tzinfo=UTC)
_n = iter(range(1_000_000))


def flow(customer: str = "cus_a", amount: int = 100, **fields: Any) -> Flow:
    values: dict[str, Any] = {
        "id": f"att_{next(_n)}",
        "transaction_id": f"pay_{next(_n)}",
        "customer": customer,
        "customer_type": "personal",
        "category": "personal_domestic",
        "direction": "out",
        "amount": amount,
        "currency": "CNY",
        "at": NOON,
        "counterparty_type": "merchant",
        "counterparty_id": "mer_1",
        **fields,
    }
    return Flow(**values)


def test_cash_is_reported_from_50000_yuan_exactly() -> None:
    below = flow("cus_below", 4_999_999, category="cash")
    at = flow("cus_at", 5_000_000, category="cash")
    assert reported_customers([below, at], DAY) == {"cus_at"}


def test_each_category_has_its_own_threshold() -> None:
    cases = [
        ("personal_domestic", 50_000_000),
        ("personal_cross_border", 20_000_000),
        ("non_personal_transfer", 200_000_000),
        ("cash", 5_000_000),
    ]
    for category, threshold in cases:
        flows = [
            flow(f"{category}:below", threshold - 1, category=category),
            flow(f"{category}:at", threshold, category=category),
        ]
        assert reported_customers(flows, DAY) == {f"{category}:at"}, category


def test_a_day_is_cumulated_per_customer_and_every_part_reported() -> None:
    parts = [flow("cus_split", 20_000_000, at=NOON + timedelta(hours=h)) for h in range(3)]
    reported = reportable([*parts, flow("cus_small", 49_999_999)], DAY)
    assert [r.flow for r in reported] == parts
    assert {r.day_total for r in reported} == {60_000_000}
    # Another customer's money does not count towards this one's.
    other = [flow("cus_x", 25_000_000), flow("cus_y", 25_000_000)]
    assert reportable(other, DAY) == []


def test_money_in_and_out_are_counted_separately() -> None:
    out = flow("cus_a", 30_000_000, direction="out")
    back = flow("cus_a", 30_000_000, direction="in")
    assert reportable([out, back], DAY) == []  # 600,000 moved, but 300,000 each way
    more_out = flow("cus_a", 20_000_000, direction="out")
    assert [r.flow for r in reportable([out, back, more_out], DAY)] == [out, more_out]


def test_categories_and_currencies_are_not_added_together() -> None:
    domestic = flow("cus_a", 40_000_000)
    abroad = flow("cus_a", 15_000_000, category="personal_cross_border")
    dollars = flow("cus_a", 9_999_999, currency="USD")
    assert reportable([domestic, abroad, dollars], DAY) == []
    # Foreign currency has its dollar thresholds; currencies without one are not reported.
    assert reported_customers([flow("cus_usd", 10_000_000, currency="USD")], DAY) == {"cus_usd"}
    assert reportable([flow("cus_eur", 10**12, currency="EUR")], DAY) == []


def test_the_day_is_beijings_not_utcs() -> None:
    # 23:30 UTC on 30 Nov and 01:00 UTC on 1 Dec are both 1 December in Beijing: one day.
    late = flow("cus_a", 30_000_000, at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    early = flow("cus_a", 20_000_000, at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert china_day(late.at) == china_day(early.at) == DAY
    assert reported_customers([late, early], DAY) == {"cus_a"}
    # 15:59:59 and 16:00:00 UTC on 1 Dec are on either side of Beijing's midnight.
    before = flow("cus_b", 30_000_000, at=datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))
    after = flow("cus_b", 20_000_000, at=datetime(2026, 12, 1, 16, 0, tzinfo=UTC))
    assert china_day(after.at) == date(2026, 12, 2)
    assert reportable([before, after], DAY) == []
    assert reportable([before, after], date(2026, 12, 2)) == []
    assert day_bounds(DAY) == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 1, 16, tzinfo=UTC),
    )
    assert not day_is_over(DAY, datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))
    assert day_is_over(DAY, datetime(2026, 12, 1, 16, tzinfo=UTC))


def test_payhub_flows_map_to_their_categories() -> None:
    common: dict[str, Any] = {
        "movement_id": "att_1",
        "transaction_id": "pay_1",
        "customer": "cus_a",
        "merchant_id": "mer_1",
        "amount": 1,
        "currency": "CNY",
        "at": NOON,
    }
    paid = card_flow(kind="payment", scene="group_buy", **common)
    assert (paid.customer_type, paid.category, paid.direction) == (
        "personal",
        "personal_domestic",
        "out",
    )
    refunded = card_flow(kind="refund", scene="cross_border", **common)
    assert (refunded.category, refunded.direction) == ("personal_cross_border", "in")
    payout = payout_flow(
        payout_id="po_1", merchant_id="mer_1", amount=1, currency="CNY", at=NOON, account="ba_1"
    )
    assert (payout.customer_type, payout.category, payout.direction) == (
        "non_personal",
        "non_personal_transfer",
        "out",
    )


_customers = st.sampled_from(["cus_a", "cus_b", "cus_c"])
_flows = st.lists(
    st.builds(
        lambda c, a, d, cat, minutes: flow(
            c, a, direction=d, category=cat, at=day_bounds(DAY)[0] + timedelta(minutes=minutes)
        ),
        _customers,
        st.integers(1, 60_000_000),
        st.sampled_from(["in", "out"]),
        st.sampled_from(["personal_domestic", "personal_cross_border"]),
        st.integers(0, 24 * 60 - 1),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(flows=_flows, data=st.data())
def test_splitting_transactions_never_changes_who_is_reported(
    flows: list[Flow], data: st.DataObject
) -> None:
    split: list[Flow] = []
    for original in flows:
        pieces = data.draw(st.integers(1, 4))
        cuts = sorted(
            data.draw(st.sets(st.integers(1, original.amount - 1), max_size=pieces - 1))
            if original.amount > 1
            else set()
        )
        bounds = [0, *cuts, original.amount]
        for lo, hi in pairwise(bounds):
            minutes = data.draw(st.integers(0, 24 * 60 - 1))
            split.append(
                Flow(
                    **{
                        **{f: getattr(original, f) for f in original.__dataclass_fields__},
                        "id": f"att_{next(_n)}",
                        "amount": hi - lo,
                        "at": day_bounds(DAY)[0] + timedelta(minutes=minutes),
                    }
                )
            )
    assert reported_customers(split, DAY) == reported_customers(flows, DAY)
