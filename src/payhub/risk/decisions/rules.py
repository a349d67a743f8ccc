"""Risk rules as data: parsed, checked against the feature catalogue, and evaluated.

A rule set, as the API and the CLI take it:

    {"rules": [{"id": "new_card_burst", "description": "...", "score": 60,
                "when": {"all": [{"feature": "card.age_hours", "op": "<", "value": 24},
                                 {"feature": "card.count_1h", "op": ">=", "value": 5}]}}],
     "review_at": 50, "decline_at": 90}

A condition is `{"feature", "op", "value"}` or `{"all": [...]}` / `{"any": [...]}`. A
comparison with a feature that is unknown for the payment (None: no customer named, no
location given) is false, whatever the operator; `exists` asks about that itself. The
score is the sum of the fired rules' scores, at most 100; at `decline_at` the payment is
declined, at `review_at` it goes on and is marked for review.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from payhub.core.errors import PayHubError
from payhub.risk.decisions.features import CATALOGUE, Value

MAX_RULES = 200
MAX_DEPTH = 4
RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,59}")

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
OPERATORS = (*_ORDER, "==", "!=", "in", "not_in", "exists")


@dataclass(frozen=True, slots=True)
class Condition:
    feature: str
    op: str
    value: Any

    def holds(self, features: Mapping[str, Value]) -> bool:
        seen = features.get(self.feature)
        if self.op == "exists":
            return (seen is not None) is bool(self.value)
        if seen is None:
            return False
        if self.op in _ORDER:
            if isinstance(seen, bool) or not isinstance(seen, int | float):
                return False
            return _ORDER[self.op](seen, self.value)
        if self.op == "==":
            return bool(seen == self.value)
        if self.op == "!=":
            return bool(seen != self.value)
        if self.op == "in":
            return seen in self.value
        return seen not in self.value  # not_in


@dataclass(frozen=True, slots=True)
class Group:
    mode: str  # all | any
    parts: tuple[Condition | Group, ...]

    def holds(self, features: Mapping[str, Value]) -> bool:
        test = all if self.mode == "all" else any
        return test(part.holds(features) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    score: int
    when: Condition | Group


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str  # approve | review | decline
    score: int
    fired: list[dict[str, Any]]  # [{"rule", "score"}] in the set's order


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]
    review_at: int
    decline_at: int

    def evaluate(self, features: Mapping[str, Value]) -> Verdict:
        hits = [r for r in self.rules if r.when.holds(features)]
        score = min(100, sum(r.score for r in hits))
        fired: list[dict[str, Any]] = [{"rule": r.id, "score": r.score} for r in hits]
        if score >= self.decline_at:
            outcome = "decline"
        elif score >= self.review_at:
            outcome = "review"
        else:
            outcome = "approve"
        return Verdict(outcome, score, fired)


# -------------------------------------------------------------------------------- parsing


def _bad(detail: str) -> PayHubError:
    return PayHubError("validation_error", param="rules", detail=detail)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _number(value)


def parse_condition(data: Any, where: str, depth: int = 0) -> Condition | Group:
    if depth > MAX_DEPTH:
        raise _bad(f"{where}: conditions nest at most {MAX_DEPTH} deep")
    if not isinstance(data, dict):
        raise _bad(f"{where} must be an object")
    groups = [mode for mode in ("all", "any") if mode in data]
    if groups:
        if len(data) != 1:
            raise _bad(f'{where}: a group is {{"all": [...]}} or {{"any": [...]}} alone')
        parts = data[groups[0]]
        if not isinstance(parts, list) or not 1 <= len(parts) <= 50:
            raise _bad(f"{where}.{groups[0]} must be a list of 1 to 50 conditions")
        return Group(
            groups[0],
            tuple(
                parse_condition(p, f"{where}.{groups[0]}[{i}]", depth + 1)
                for i, p in enumerate(parts)
            ),
        )
    if set(data) != {"feature", "op", "value"}:
        raise _bad(f"{where} needs exactly feature, op and value (or all / any)")
    feature, op, value = data["feature"], data["op"], data["value"]
    if feature not in CATALOGUE:
        raise _bad(f"{where}: unknown feature {feature!r} (GET /v1/risk/features lists them)")
    if op not in OPERATORS:
        raise _bad(f"{where}: op is one of {', '.join(OPERATORS)}")
    if op in _ORDER and not _number(value):
        raise _bad(f"{where}: {op} compares with a number")
    if op in ("in", "not_in") and (
        not isinstance(value, list) or not value or not all(_scalar(v) for v in value)
    ):
        raise _bad(f"{where}: {op} takes a non-empty list of plain values")
    if op in ("==", "!=") and not _scalar(value):
        raise _bad(f"{where}: {op} compares with a plain value")
    if op == "exists" and not isinstance(value, bool):
        raise _bad(f"{where}: exists takes true or false")
    return Condition(feature, op, tuple(value) if isinstance(value, list) else value)


def parse_rule_set(data: Any, *, version: int = 0) -> RuleSet:
    if not isinstance(data, dict):
        raise _bad("a rule set is an object with rules, review_at and decline_at")
    unknown = set(data) - {"rules", "review_at", "decline_at"}
    if unknown:
        raise _bad(f"unknown fields: {', '.join(sorted(unknown))}")
    review_at, decline_at = data.get("review_at"), data.get("decline_at")
    for name, value in (("review_at", review_at), ("decline_at", decline_at)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 101:
            raise _bad(f"{name} is a whole number from 1 to 101 (101: never)")
    assert isinstance(review_at, int) and isinstance(decline_at, int)
    if review_at > decline_at:
        raise _bad("review_at cannot be above decline_at")
    items = data.get("rules")
    if not isinstance(items, list) or len(items) > MAX_RULES:
        raise _bad(f"rules is a list of at most {MAX_RULES}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        where = f"rules[{n}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object")
        unknown = set(item) - {"id", "description", "score", "when"}
        if unknown:
            raise _bad(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
        rule_id, score = item.get("id"), item.get("score")
        if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
            raise _bad(f"{where}.id is snake_case, 1 to 60 characters")
        if rule_id in seen:
            raise _bad(f"{where}.id {rule_id!r} is used twice")
        seen.add(rule_id)
        if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
            raise _bad(f"{where}.score is a whole number from 0 to 100")
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > 300:
            raise _bad(f"{where}.description is text of at most 300 characters")
        rules.append(Rule(rule_id, description, score, parse_condition(item.get("when"), where)))
    return RuleSet(version, tuple(rules), review_at, decline_at)


def condition_data(when: Condition | Group) -> dict[str, Any]:
    if isinstance(when, Group):
        return {when.mode: [condition_data(p) for p in when.parts]}
    value = list(when.value) if isinstance(when.value, tuple) else when.value
    return {"feature": when.feature, "op": when.op, "value": value}


def rule_set_data(rule_set: RuleSet) -> dict[str, Any]:
    return {
        "rules": [
            {
                "id": r.id,
                "description": r.description,
                "score": r.score,
                "when": condition_data(r.when),
            }
            for r in rule_set.rules
        ],
        "review_at": rule_set.review_at,
        "decline_at": rule_set.decline_at,
    }


# No rules: every payment is approved, its features still measured and recorded. For
# harnesses that measure something else with traffic the real rules would stop (one
# customer paying thousands of times an hour).
NO_RULES: dict[str, Any] = {"rules": [], "review_at": 101, "decline_at": 101}

# The rules that apply until compliance publishes its own (version 0). Scores add up:
# one strong pattern reaches review, two together reach decline.
BUILTIN = parse_rule_set(
    {
        "rules": [
            {
                "id": "high_frequency_small_amounts",
                "description": "Many small payments in a short time from one customer or "
                "card: card testing, or splitting to stay unnoticed.",
                "score": 60,
                "when": {
                    "all": [
                        {"feature": "amount.small", "op": "==", "value": True},
                        {
                            "any": [
                                {"feature": "customer.small_count_1h", "op": ">=", "value": 8},
                                {"feature": "card.small_count_1h", "op": ">=", "value": 8},
                            ]
                        },
                    ]
                },
            },
            {
                "id": "impossible_travel",
                "description": "Paying from a place the customer could not have reached "
                "since the previous payment (faster than an airliner).",
                "score": 70,
                "when": {
                    "all": [
                        {"feature": "travel.km_from_last", "op": ">", "value": 300},
                        {"feature": "travel.speed_kmh", "op": ">", "value": 900},
                    ]
                },
            },
            {
                "id": "far_from_home",
                "description": "Paying far from the customer's home region.",
                "score": 20,
                "when": {"feature": "geo.km_from_home", "op": ">", "value": 1500},
            },
            {
                "id": "structuring_below_threshold",
                "description": "Repeated amounts just under a reporting threshold.",
                "score": 70,
                "when": {
                    "all": [
                        {"feature": "amount.near_threshold", "op": "==", "value": True},
                        {"feature": "customer.near_threshold_24h", "op": ">=", "value": 1},
                    ]
                },
            },
            {
                "id": "new_card_velocity",
                "description": "A burst of payments on a card first seen within a day.",
                "score": 60,
                "when": {
                    "all": [
                        {"feature": "card.age_hours", "op": "<", "value": 24},
                        {"feature": "card.count_1h", "op": ">=", "value": 5},
                    ]
                },
            },
            {
                "id": "card_shared_by_customers",
                "description": "One card used by several customers in a day.",
                "score": 50,
                "when": {"feature": "card.customers_24h", "op": ">=", "value": 3},
            },
            {
                "id": "device_with_many_cards",
                "description": "One device paying with many cards in a day.",
                "score": 50,
                "when": {"feature": "device.cards_24h", "op": ">=", "value": 5},
            },
            {
                "id": "amount_far_above_usual",
                "description": "An amount ten times the customer's usual, with a history.",
                "score": 30,
                "when": {
                    "all": [
                        {"feature": "customer.history_count", "op": ">=", "value": 5},
                        {"feature": "customer.amount_to_usual", "op": ">=", "value": 10},
                    ]
                },
            },
            {
                "id": "sanctions_confirmed",
                "description": "The customer or the merchant is a confirmed match on a watch list.",
                "score": 100,
                "when": {
                    "any": [
                        {"feature": "sanctions.customer", "op": "==", "value": "confirmed"},
                        {"feature": "sanctions.merchant", "op": "==", "value": "confirmed"},
                    ]
                },
            },
            {
                "id": "sanctions_potential_match",
                "description": "The customer or the merchant has a potential watch-list "
                "match awaiting compliance's decision.",
                "score": 50,
                "when": {
                    "any": [
                        {"feature": "sanctions.customer", "op": "==", "value": "open"},
                        {"feature": "sanctions.merchant", "op": "==", "value": "open"},
                    ]
                },
            },
        ],
        "review_at": 50,
        "decline_at": 90,
    }
)
