"""Risk rule sets as data: what is refused, how they evaluate, and the built-in set."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payhub.core.errors import PayHubError
from payhub.risk.decisions.features import CATALOGUE
from payhub.risk.decisions.rules import (
    BUILTIN,
    parse_rule_set,
    rule_set_data,
)


def _set(*rules: dict[str, Any], review_at: int = 50, decline_at: int = 90) -> dict[str, Any]:
    return {"rules": list(rules), "review_at": review_at, "decline_at": decline_at}


def _rule(rule_id: str = "r", score: int = 60, **when: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "score": score,
        "when": when or {"feature": "amount", "op": ">=", "value": 100},
    }


@pytest.mark.parametrize(
    ("definition", "says"),
    [
        ([], "an object"),
        ({"rules": [], "review_at": 50}, "decline_at"),
        ({"rules": [], "review_at": 0, "decline_at": 90}, "review_at"),
        ({"rules": [], "review_at": 95, "decline_at": 90}, "cannot be above"),
        ({"rules": [], "review_at": True, "decline_at": 90}, "review_at"),
        (_set() | {"extra": 1}, "unknown fields"),
        (_set({"id": "Bad-Id", "score": 1, "when": _rule()["when"]}), "snake_case"),
        (_set(_rule("a"), _rule("a")), "used twice"),
        (_set(_rule(score=101)), "0 to 100"),
        (_set(_rule() | {"then": "x"}), "unknown fields"),
        (_set(_rule(feature="amount.colour", op="==", value=1)), "unknown feature"),
        (_set(_rule(feature="amount", op="~", value=1)), "op is one of"),
        (_set(_rule(feature="amount", op=">", value="100")), "compares with a number"),
        (_set(_rule(feature="scene", op="in", value=[])), "non-empty list"),
        (_set(_rule(feature="scene", op="in", value=[["x"]])), "plain values"),
        (_set(_rule(feature="card.count_1h", op="exists", value=1)), "true or false"),
        (_set(_rule(feature="amount", op=">")), "exactly feature, op and value"),
        (_set(_rule(all=[])), "1 to 50"),
        (_set(_rule(all=[{"feature": "amount", "op": ">", "value": 1}], any=[])), "alone"),
        (
            _set(_rule(all=[{"all": [{"all": [{"all": [{"all": [{"any": []}]}]}]}]}])),
            "nest at most",
        ),
    ],
)
def test_bad_rule_sets_are_refused_with_what_is_wrong(definition: Any, says: str) -> None:
    with pytest.raises(PayHubError) as caught:
        parse_rule_set(definition)
    assert caught.value.code == "validation_error"
    assert says in caught.value.message()


def test_scores_add_up_to_the_outcome() -> None:
    rules = parse_rule_set(
        _set(
            _rule("big", 60, feature="amount", op=">=", value=10_000),
            _rule("night_scene", 40, feature="scene", op="in", value=["group_buy"]),
        )
    )
    base = dict.fromkeys(CATALOGUE)
    assert rules.evaluate(base | {"amount": 9_999, "scene": "group_buy"}).outcome == "approve"
    review = rules.evaluate(base | {"amount": 10_000, "scene": "food_delivery"})
    assert (review.outcome, review.score) == ("review", 60)
    assert review.fired == [{"rule": "big", "score": 60}]
    decline = rules.evaluate(base | {"amount": 10_000, "scene": "group_buy"})
    assert (decline.outcome, decline.score) == ("decline", 100)


def test_an_unknown_feature_value_fails_every_comparison_but_exists() -> None:
    rules = parse_rule_set(
        _set(
            _rule("far", 60, feature="geo.km_from_home", op="<", value=10),
            _rule("not_far", 60, feature="geo.km_from_home", op="!=", value=5),
            _rule("nowhere", 10, feature="geo.km_from_home", op="exists", value=False),
        )
    )
    verdict = rules.evaluate(dict.fromkeys(CATALOGUE))
    assert [f["rule"] for f in verdict.fired] == ["nowhere"]


def test_booleans_are_not_numbers_to_an_ordering() -> None:
    rules = parse_rule_set(_set(_rule("x", 60, feature="amount.small", op=">=", value=1)))
    assert rules.evaluate({"amount.small": True}).fired == []


def test_the_built_in_set_round_trips_through_its_data() -> None:
    again = parse_rule_set(rule_set_data(BUILTIN))
    assert rule_set_data(again) == rule_set_data(BUILTIN)
    assert {r.id for r in BUILTIN.rules} >= {
        "high_frequency_small_amounts",
        "impossible_travel",
        "structuring_below_threshold",
        "new_card_velocity",
    }


_FEATURE_VALUES = st.fixed_dictionaries(
    {
        "amount": st.integers(1, 10**9),
        "customer.count_1h": st.one_of(st.none(), st.integers(0, 50)),
        "geo.km_from_home": st.one_of(st.none(), st.floats(0, 20_000)),
        "scene": st.sampled_from(["food_delivery", "group_buy", "local_services"]),
    }
)
_CONDITIONS = st.one_of(
    st.builds(
        lambda v, op: {"feature": "amount", "op": op, "value": v},
        st.integers(1, 10**9),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    ),
    st.builds(
        lambda v: {"feature": "customer.count_1h", "op": ">=", "value": v}, st.integers(0, 50)
    ),
    st.builds(
        lambda v: {"feature": "geo.km_from_home", "op": ">", "value": v}, st.floats(0, 20_000)
    ),
    st.builds(
        lambda v: {"feature": "scene", "op": "in", "value": v},
        st.lists(st.sampled_from(["food_delivery", "group_buy"]), min_size=1),
    ),
)
_RULES = st.lists(
    st.builds(lambda w, s: {"when": w, "score": s}, _CONDITIONS, st.integers(0, 100)),
    max_size=6,
)


@given(_RULES, _CONDITIONS, st.integers(0, 100), _FEATURE_VALUES, st.integers(1, 101))
def test_a_further_rule_never_lowers_the_score_or_the_outcome(
    rules: list[dict[str, Any]],
    extra_when: dict[str, Any],
    extra_score: int,
    features: dict[str, Any],
    review_at: int,
) -> None:
    named = [{"id": f"r{i}", **r} for i, r in enumerate(rules)]
    decline_at = min(101, review_at + 30)
    before = parse_rule_set(_set(*named, review_at=review_at, decline_at=decline_at))
    after = parse_rule_set(
        _set(
            *named,
            {"id": "extra", "when": extra_when, "score": extra_score},
            review_at=review_at,
            decline_at=decline_at,
        )
    )
    order = ["approve", "review", "decline"]
    a, b = before.evaluate(features), after.evaluate(features)
    assert b.score >= a.score
    assert order.index(b.outcome) >= order.index(a.outcome)
    assert 0 <= b.score <= 100
    # The outcome follows from the score alone.
    expected = (
        "decline" if b.score >= decline_at else "review" if b.score >= review_at else "approve"
    )
    assert b.outcome == expected


def test_a_version_number_is_parsed_again_when_its_definition_differs() -> None:
    # One process may serve several databases, whose version 1s are different sets.
    from payhub.risk.decisions.service import _rule_set

    declines = _set(_rule("big", 100, feature="amount", op=">", value=10))
    allows = _set()
    assert [r.id for r in _rule_set(1, declines).rules] == ["big"]
    assert _rule_set(1, allows).rules == ()
    assert _rule_set(1, allows) is _rule_set(1, allows)  # the same definition: cached
