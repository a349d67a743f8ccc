"""Which transactions the PBoC large-value report holds (Order [2016] No. 3, art. 5).

The day is the natural day in China Standard Time (UTC+8, no daylight saving), 00:00 to
24:00: the rules' "当日" is the reporting institution's day, and PayHub reports to the PBoC
as a Chinese institution. So 23:30 UTC on 1 December counts on 2 December, together with
that morning's transactions; 15:59:59 UTC and 16:00 UTC fall on two different days.

A customer's transactions of one day are added up per direction (money in and money out
counted separately, never netted), per category and per currency group; when a group's
total reaches the category's threshold, every transaction of that group that day is
reported. Amounts are minor units; a threshold is met at equality (≥).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Literal

CHINA = timezone(timedelta(hours=8), "CST")

Category = Literal["cash", "non_personal_transfer", "personal_domestic", "personal_cross_border"]
CATEGORIES: tuple[Category, ...] = (
    "cash",
    "non_personal_transfer",
    "personal_domestic",
    "personal_cross_border",
)
Direction = Literal["in", "out"]
CustomerType = Literal["personal", "non_personal"]

# Minor units. CNY as DESIGN §7; foreign currency by its USD thresholds (the rules' "外币等值
# 美元"); other currencies are not reported until PayHub holds exchange rates.
THRESHOLDS: dict[str, dict[Category, int]] = {
    "CNY": {
        "cash": 5_000_000,  # 50,000 yuan
        "non_personal_transfer": 200_000_000,  # 2,000,000 yuan
        "personal_domestic": 50_000_000,  # 500,000 yuan
        "personal_cross_border": 20_000_000,  # 200,000 yuan
    },
    "USD": {
        "cash": 1_000_000,  # 10,000 dollars
        "non_personal_transfer": 20_000_000,  # 200,000 dollars
        "personal_domestic": 10_000_000,  # 100,000 dollars
        "personal_cross_border": 1_000_000,  # 10,000 dollars
    },
}


def china_day(moment: datetime) -> date:
    """The day a transaction counts in."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime")
    return moment.astimezone(CHINA).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day as [start, end) in UTC: 16:00 UTC the day before to 16:00 UTC that day."""
    start = datetime.combine(day, time(0), CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


def day_is_over(day: date, now: datetime) -> bool:
    return now >= day_bounds(day)[1]


@dataclass(frozen=True, slots=True)
class Flow:
    """One transaction as the rules see it, from the reported customer's side."""

    id: str  # the money movement
    transaction_id: str  # the payment, refund or payout
    customer: str  # the reported customer: a customer id, a card token, a merchant id
    customer_type: CustomerType
    category: Category
    direction: Direction
    amount: int
    currency: str
    at: datetime
    counterparty_type: str
    counterparty_id: str


@dataclass(frozen=True, slots=True)
class Reported:
    flow: Flow
    day_total: int  # the customer's total that day for the flow's direction and category


def card_flow(
    *,
    movement_id: str,
    transaction_id: str,
    kind: Literal["payment", "refund"],
    customer: str,
    merchant_id: str,
    scene: str,
    amount: int,
    currency: str,
    at: datetime,
) -> Flow:
    """A card payment (money out of a personal customer's account to the merchant) or its
    refund (money in): personal, cross-border when the payment's scene is."""
    category: Category = "personal_cross_border" if scene == "cross_border" else "personal_domestic"
    return Flow(
        id=movement_id,
        transaction_id=transaction_id,
        customer=customer,
        customer_type="personal",
        category=category,
        direction="out" if kind == "payment" else "in",
        amount=amount,
        currency=currency,
        at=at,
        counterparty_type="merchant",
        counterparty_id=merchant_id,
    )


def payout_flow(
    *, payout_id: str, merchant_id: str, amount: int, currency: str, at: datetime, account: str
) -> Flow:
    """A merchant's payout to its bank account: a non-personal transfer out."""
    return Flow(
        id=payout_id,
        transaction_id=payout_id,
        customer=merchant_id,
        customer_type="non_personal",
        category="non_personal_transfer",
        direction="out",
        amount=amount,
        currency=currency,
        at=at,
        counterparty_type="bank_account",
        counterparty_id=account,
    )


def reportable(flows: Iterable[Flow], day: date) -> list[Reported]:
    """The flows of `day` the report must hold, in a stable order (customer, direction,
    category, time, id)."""
    groups: dict[tuple[str, str, Category, str], list[Flow]] = defaultdict(list)
    for flow in flows:
        if china_day(flow.at) != day or flow.currency not in THRESHOLDS:
            continue
        groups[(flow.customer, flow.direction, flow.category, flow.currency)].append(flow)
    out: list[Reported] = []
    for (_, _, category, currency), members in groups.items():
        total = sum(f.amount for f in members)
        if total >= THRESHOLDS[currency][category]:
            out.extend(Reported(f, total) for f in members)
    out.sort(
        key=lambda r: (r.flow.customer, r.flow.direction, r.flow.category, r.flow.at, r.flow.id)
    )
    return out


def reported_customers(flows: Iterable[Flow], day: date) -> set[str]:
    return {r.flow.customer for r in reportable(flows, day)}
