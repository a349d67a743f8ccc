"""What a risk rule can see: a payment's features, measured against the recorded history.

One statement reads the history: velocity over sliding windows (10 minutes, an hour, a
day) per customer, card fingerprint, device and IP, distinct counterparties, the
customer's usual amount and last located payment, and the card's first sighting. Each
figure is an index range scan over `risk_decisions` (one index per party, ordered by
time), so the cost follows a party's own recent traffic, not the size of the history.
The rest is arithmetic here: time since the last payment, distance and speed since the
last located one (impossible travel), distance from home, the amount against the usual
and against reporting thresholds.

Counts do not include the payment being decided (its row is written with the decision),
except the distinct counts of counterparties, which do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, case, distinct, func, select, true

from payhub.db.sql import table_of
from payhub.risk.decisions.models import RiskDecision

Value = int | float | bool | str | None

_D = table_of(RiskDecision)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the merchant tells us of the customer's side of a payment (all optional)."""

    device_id: str | None = None
    ip: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Amount lines the features compare against (minor units, per currency)."""

    small: dict[str, int]  # at most this is a small amount
    reporting: dict[str, tuple[int, ...]]  # reporting thresholds
    near_share: float  # "just under": within this share below a reporting threshold

    def is_small(self, amount: int, currency: str) -> bool:
        line = self.small.get(currency)
        return line is not None and amount <= line

    def near_threshold(self, amount: int, currency: str) -> bool:
        return any(
            line * (1.0 - self.near_share) <= amount < line
            for line in self.reporting.get(currency, ())
        )


# name → what it measures: the catalogue rule authors pick from (and rules are checked
# against). Windows end at the decision; "24h" is the last 24 hours, not the calendar day.
CATALOGUE: dict[str, str] = {
    "amount": "the payment's amount, minor units",
    "currency": "the payment's currency (ISO 4217)",
    "scene": "food_delivery, group_buy, local_services or cross_border",
    "merchant": "the merchant's id",
    "amount.small": "the amount is at most the small-amount line of its currency",
    "amount.near_threshold": "the amount is just under a reporting threshold",
    "customer.known": "the payment names a customer",
    "customer.count_10m": "the customer's payments in the last 10 minutes",
    "customer.count_1h": "the customer's payments in the last hour",
    "customer.count_24h": "the customer's payments in the last 24 hours",
    "customer.amount_24h": "the customer's amount in the last 24 hours (same currency)",
    "customer.small_count_1h": "the customer's small-amount payments in the last hour",
    "customer.near_threshold_24h": "the customer's payments just under a reporting "
    "threshold in the last 24 hours",
    "customer.merchants_24h": "distinct merchants the customer paid in the last 24 hours, "
    "this payment's included",
    "customer.history_count": "the customer's payments in the last 30 days (same currency)",
    "customer.usual_amount": "the customer's mean amount over the last 30 days",
    "customer.amount_to_usual": "the amount divided by the customer's usual amount",
    "customer.seconds_since_last": "seconds since the customer's previous payment",
    "customer.home_known": "the customer has a home region",
    "card.count_10m": "the card's payments in the last 10 minutes",
    "card.count_1h": "the card's payments in the last hour",
    "card.count_24h": "the card's payments in the last 24 hours",
    "card.amount_24h": "the card's amount in the last 24 hours (same currency)",
    "card.small_count_1h": "the card's small-amount payments in the last hour",
    "card.customers_24h": "distinct customers who used the card in the last 24 hours, "
    "this payment's included",
    "card.age_hours": "hours since the card's first payment (0 for its first)",
    "device.count_1h": "the device's payments in the last hour",
    "device.cards_24h": "distinct cards used from the device in the last 24 hours, "
    "this payment's included",
    "device.customers_24h": "distinct customers on the device in the last 24 hours, "
    "this payment's included",
    "ip.count_1h": "payments from the IP address in the last hour",
    "ip.cards_24h": "distinct cards used from the IP address in the last 24 hours, "
    "this payment's included",
    "ip.customers_24h": "distinct customers from the IP address in the last 24 hours, "
    "this payment's included",
    "travel.km_from_last": "km from the customer's previous located payment",
    "travel.hours_from_last": "hours since the customer's previous located payment",
    "travel.speed_kmh": "the speed the customer would have travelled since it",
    "geo.km_from_home": "km from the customer's home region",
    "sanctions.customer": "the customer's worst standing sanctions hit: none, open "
    "(a potential match awaiting compliance) or confirmed",
    "sanctions.merchant": "the merchant's worst standing sanctions hit: none, open or confirmed",
}

_STANDING = {0: "none", 1: "open", 2: "confirmed"}


# The most rows of one party a decision reads per window. Bounded work per decision: a
# party with thousands of payments a day (itself a pattern the rules catch long before)
# cannot slow every decision on it. Counts and amounts beyond it are floors.
PARTY_ROWS = 200

Rows = Any  # the columns of one party's latest rows (a subquery's `.c`)


def _since(r: Rows, window: str) -> ColumnElement[bool]:
    after: ColumnElement[bool] = r.decided_at >= bindparam(window)
    return after


def _tally(*conditions: ColumnElement[bool]) -> Any:
    """How many of the party's rows meet every condition."""
    return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)


def _others(r: Rows, column: str, window: str, current: str) -> Any:
    """Distinct values of `column` in the window other than the payment's own (`derive`
    adds that one back), so the count includes this payment whether or not it is new."""
    value = r[column]
    other = value != func.coalesce(bindparam(current, type_=String()), "")
    return func.count(distinct(case((and_(_since(r, window), other), value))))


def _pass(
    name: str, party: str, param: str, window: str, figures: Callable[[Rows], dict[str, Any]]
) -> Any:
    """One pass over a party's latest rows in `window` (at most `PARTY_ROWS`, newest
    first, by the party's index): every figure of it at once."""
    latest = (
        select(_D)
        .where(_D.c[party] == bindparam(param), _D.c.decided_at >= bindparam(window))
        .order_by(_D.c.decided_at.desc())
        .limit(PARTY_ROWS)
        .subquery(f"{name}_rows")
    )
    return select(*(expr.label(label) for label, expr in figures(latest.c).items())).subquery(name)


def _latest(column: Any) -> Any:
    """The customer's latest located payment in the last 30 days (an index scan backwards
    from now, stopping at the first located row)."""
    return (
        select(column)
        .where(
            _D.c.customer_id == bindparam("customer"),
            _since(_D.c, "t30d"),
            _D.c.latitude.is_not(None),
        )
        .order_by(_D.c.decided_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def history_columns() -> tuple[list[Any], Any]:
    """The history's figures as labelled columns, and the FROM clause they need (one
    single-row aggregate per party, joined), for one SELECT with others."""

    def customer(r: Rows) -> dict[str, Any]:
        same_currency = r.currency == bindparam("currency")
        return {
            "customer.count_10m": _tally(_since(r, "t10m")),
            "customer.count_1h": _tally(_since(r, "t1h")),
            "customer.count_24h": _tally(_since(r, "t24h")),
            "customer.amount_24h": func.coalesce(
                func.sum(case((and_(_since(r, "t24h"), same_currency), r.amount), else_=0)), 0
            ),
            "customer.small_count_1h": _tally(_since(r, "t1h"), r.small.is_(True)),
            "customer.near_threshold_24h": _tally(_since(r, "t24h"), r.near_threshold.is_(True)),
            "customer.merchants_24h": _others(r, "merchant_id", "t24h", "merchant"),
            "customer.history_count": _tally(same_currency),
            "usual_amount": func.avg(case((same_currency, r.amount))),
            "last_at": func.max(r.decided_at),
        }

    def card(r: Rows) -> dict[str, Any]:
        return {
            "card.count_10m": _tally(_since(r, "t10m")),
            "card.count_1h": _tally(_since(r, "t1h")),
            "card.count_24h": func.count(),
            "card.amount_24h": func.coalesce(
                func.sum(case((r.currency == bindparam("currency"), r.amount), else_=0)), 0
            ),
            "card.small_count_1h": _tally(_since(r, "t1h"), r.small.is_(True)),
            "card.customers_24h": _others(r, "customer_id", "t24h", "customer"),
        }

    def device(r: Rows) -> dict[str, Any]:
        return {
            "device.count_1h": _tally(_since(r, "t1h")),
            "device.cards_24h": _others(r, "card_fingerprint", "t24h", "card"),
            "device.customers_24h": _others(r, "customer_id", "t24h", "customer"),
        }

    def ip(r: Rows) -> dict[str, Any]:
        return {
            "ip.count_1h": _tally(_since(r, "t1h")),
            "ip.cards_24h": _others(r, "card_fingerprint", "t24h", "card"),
            "ip.customers_24h": _others(r, "customer_id", "t24h", "customer"),
        }

    parts = (
        _pass("customer_figures", "customer_id", "customer", "t30d", customer),
        _pass("card_figures", "card_fingerprint", "card", "t24h", card),
        _pass("device_figures", "device_id", "device", "t24h", device),
        _pass("ip_figures", "ip", "ip", "t24h", ip),
    )
    columns: list[Any] = [c for part in parts for c in part.c]
    columns += [
        _latest(_D.c.decided_at).label("last_located_at"),
        _latest(_D.c.latitude).label("last_latitude"),
        _latest(_D.c.longitude).label("last_longitude"),
        select(func.min(_D.c.decided_at))
        .where(_D.c.card_fingerprint == bindparam("card"))
        .scalar_subquery()
        .label("card_first_seen"),
    ]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, true())
    return columns, joined


@cache
def region_points() -> dict[str, tuple[float, float]]:
    text = resources.files("payhub.data").joinpath("regions.json").read_text(encoding="utf-8")
    return {code: (lat, lon) for code, (lat, lon) in json.loads(text)["regions"].items()}


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Subject:
    """The payment being decided, as the features need it."""

    merchant_id: str
    customer_id: str | None
    card_fingerprint: str | None
    amount: int
    currency: str
    scene: str
    signals: Signals


def windows(now: datetime) -> dict[str, datetime]:
    """The window starts the history's subqueries are bound to."""
    return {
        "t10m": now - timedelta(minutes=10),
        "t1h": now - timedelta(hours=1),
        "t24h": now - timedelta(days=1),
        "t30d": now - timedelta(days=30),
    }


def derive(
    subject: Subject, thresholds: Thresholds, now: datetime, row: dict[str, Any]
) -> dict[str, Value]:
    """The features from the history's figures and the customer's `home_region` in `row`
    (pure: tested without a database)."""
    features: dict[str, Value] = {
        "amount": subject.amount,
        "currency": subject.currency,
        "scene": subject.scene,
        "merchant": subject.merchant_id,
        "amount.small": thresholds.is_small(subject.amount, subject.currency),
        "amount.near_threshold": thresholds.near_threshold(subject.amount, subject.currency),
        "customer.known": subject.customer_id is not None,
        "customer.home_known": row.get("home_region") in region_points(),
        "sanctions.customer": _STANDING[int(row.get("customer_sanctions") or 0)],
        "sanctions.merchant": _STANDING[int(row.get("merchant_sanctions") or 0)],
    }
    for name in CATALOGUE:
        if name in row:
            features[name] = int(row[name] or 0)
    # Distinct counts include the payment's own counterparty (see `_others`).
    own = {
        "customer.merchants_24h": subject.merchant_id,
        "card.customers_24h": subject.customer_id,
        "device.cards_24h": subject.card_fingerprint,
        "device.customers_24h": subject.customer_id,
        "ip.cards_24h": subject.card_fingerprint,
        "ip.customers_24h": subject.customer_id,
    }
    for name, value in own.items():
        if value is not None and name in row:
            features[name] = int(row[name] or 0) + 1
    # Parties the payment does not name have no history, not an empty one.
    for party, present in (
        ("customer", subject.customer_id),
        ("card", subject.card_fingerprint),
        ("device", subject.signals.device_id),
        ("ip", subject.signals.ip),
    ):
        if present is None:
            for name in CATALOGUE:
                if name.startswith(party + ".") and name in row:
                    features[name] = None
    usual = row.get("usual_amount")
    features["customer.usual_amount"] = round(float(usual), 2) if usual is not None else None
    features["customer.amount_to_usual"] = (
        round(subject.amount / float(usual), 3) if usual else None
    )
    last_at = row.get("last_at")
    features["customer.seconds_since_last"] = (
        round((now - last_at).total_seconds(), 1) if last_at is not None else None
    )
    first_seen = row.get("card_first_seen")
    features["card.age_hours"] = (
        None
        if subject.card_fingerprint is None
        else round((now - first_seen).total_seconds() / 3600.0, 2)
        if first_seen is not None
        else 0.0
    )
    features.update(_travel(subject, now, row))
    return {name: features.get(name) for name in CATALOGUE}


def _travel(subject: Subject, now: datetime, row: dict[str, Any]) -> dict[str, Value]:
    s = subject.signals
    out: dict[str, Value] = {
        "travel.km_from_last": None,
        "travel.hours_from_last": None,
        "travel.speed_kmh": None,
        "geo.km_from_home": None,
    }
    if not s.located:
        return out
    here = (float(s.latitude or 0.0), float(s.longitude or 0.0))
    home = region_points().get(row.get("home_region") or "")
    if home is not None:
        out["geo.km_from_home"] = round(km_between(home, here), 1)
    last_at, lat, lon = (
        row.get("last_located_at"),
        row.get("last_latitude"),
        row.get("last_longitude"),
    )
    if last_at is None or lat is None or lon is None:
        return out
    km = km_between((float(lat), float(lon)), here)
    hours = max(0.0, (now - last_at).total_seconds() / 3600.0)
    out["travel.km_from_last"] = round(km, 1)
    out["travel.hours_from_last"] = round(hours, 3)
    # A minute at least: two payments in the same second are not infinitely fast.
    out["travel.speed_kmh"] = round(km / max(hours, 1.0 / 60.0), 1)
    return out
