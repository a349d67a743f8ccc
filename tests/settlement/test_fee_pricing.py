"""Fee arithmetic at its boundaries, rule validation, and the property that partial
captures and refunds never book more fee than was charged, nor return more."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payhub.channels.base import fee_for
from payhub.core.errors import PayHubError
from payhub.core.money import MAX_MINOR
from payhub.payments.models import SCENES
from payhub.settlement.fees import pricing
from payhub.settlement.fees.pricing import FeeState, Pinned, Price


def test_half_even_at_exactly_half_a_fen() -> None:
    # 50 × 1 bp = 0.005 fen; 250 × 100 bps = 2.5 fen → 2; 350 × 100 bps = 3.5 → 4.
    assert fee_for(50, 1) == 0
    assert fee_for(150, 100) == 2  # 1.5 → 2 (to the even)
    assert fee_for(250, 100) == 2  # 2.5 → 2
    assert fee_for(350, 100) == 4  # 3.5 → 4
    assert fee_for(251, 100) == 3  # 2.51 → 3


def test_minimum_and_cap() -> None:
    price = Price(bps=60, fixed=0, minimum=10, cap=500)
    assert price.fee(100) == 10  # 0.6 fen raised to the minimum
    assert price.fee(10_000) == 60
    assert price.fee(83_333) == 500  # 499.998 → 500: exactly the cap
    assert price.fee(10_000_000) == 500  # capped
    assert Price(bps=60, minimum=10, cap=10).fee(10_000_000) == 10  # min == cap: flat


def test_fixed_part_and_fee_never_above_amount() -> None:
    assert Price(bps=0, fixed=30).fee(1_000) == 30
    assert Price(bps=0, fixed=30).fee(20) == 20  # never more than the payment
    assert Price(bps=60, minimum=100).fee(5) == 5
    assert Price(bps=60).fee(0) == 0


def test_zero_and_huge_amounts_are_exact() -> None:
    assert Price(bps=0).fee(MAX_MINOR) == 0
    assert Price(bps=10_000).fee(MAX_MINOR) == MAX_MINOR
    # 0.6% of the largest 64-bit amount, rounded half-even with integers only.
    expected = (MAX_MINOR * 60) // 10_000
    remainder = (MAX_MINOR * 60) % 10_000
    expected += 1 if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and expected % 2) else 0
    assert Price(bps=60).fee(MAX_MINOR) == expected


def test_other_currency_is_charged_the_percentage_only() -> None:
    price = Price(bps=100, fixed=50, minimum=200, cap=300)
    assert price.fee(1_000, same_currency=False) == 10
    assert price.fee(1_000) == 200


@pytest.mark.parametrize(
    ("rules", "param"),
    [
        ([{"bps": -1}], "rules[0].bps"),
        ([{"bps": 10_001}], "rules[0].bps"),
        ([{"bps": 10, "minimum": 20, "cap": 10}], "rules[0].minimum"),
        ([{"bps": 10, "fixed": -5}], "rules[0].fixed"),
        ([{"bps": 1.5}], "rules[0].bps"),
        ([{"bps": True}], "rules[0].bps"),
        ([{"bps": 10, "cap": 2**63}], "rules[0].cap"),
        ([{"fixed": 1}], "rules[0].bps"),
        ([{"card_type": "credit", "bps": 10}], "rules[0]"),
        ([{"bps": 10, "card_type": "gold"}, {"bps": 1}], "rules[0].card_type"),
        ([{"bps": 10, "scene": "casino"}, {"bps": 1}], "rules[0].scene"),
        ([{"bps": 10, "colour": "red"}], "rules[0]"),
        ([], "rules"),
        ("60bps", "rules"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(rules: object, param: str) -> None:
    with pytest.raises(PayHubError) as caught:
        pricing.plan_terms("CNY", rules, None, "proportional", scenes=SCENES, channels=["x"])
    assert caught.value.code == "validation_error"
    assert caught.value.param == param


def test_unknown_currency_channel_class_and_policy() -> None:
    with pytest.raises(PayHubError) as caught:
        pricing.plan_terms("XYZ", [{"bps": 1}], None, "proportional", scenes=SCENES, channels=[])
    assert caught.value.code == "currency_invalid"
    with pytest.raises(PayHubError) as caught:
        pricing.plan_terms(
            "CNY", [{"bps": 1}], {"nope": "in_house"}, "proportional", scenes=SCENES, channels=[]
        )
    assert caught.value.param == "channel_classes"
    with pytest.raises(PayHubError) as caught:
        pricing.plan_terms("CNY", [{"bps": 1}], None, "half", scenes=SCENES, channels=[])
    assert caught.value.param == "refund_policy"


def test_first_matching_rule_prices_and_channel_classes() -> None:
    terms = pricing.plan_terms(
        "CNY",
        [
            {"card_type": "credit", "channel_class": "unionpay", "bps": 80},
            {"card_type": "credit", "bps": 70},
            {"channel_class": "in_house", "scene": "group_buy", "bps": 20},
            {"bps": 50},
        ],
        {"netsunion": "unionpay"},
        "proportional",
        scenes=SCENES,
        channels=["netsunion", "partner_bank", "unionpay_quick"],
    )
    assert terms.rule_for("credit", "unionpay_quick", "group_buy").price.bps == 80
    assert terms.rule_for("credit", "netsunion", "group_buy").price.bps == 80  # mapped
    assert terms.rule_for("credit", "partner_bank", "group_buy").price.bps == 70
    assert terms.rule_for("debit", "partner_bank", "group_buy").price.bps == 20
    assert terms.rule_for("debit", "partner_bank", "food_delivery").price.bps == 50
    assert pricing.derived_channel_class("partner_bank") == "in_house"
    assert pricing.derived_channel_class("unionpay_quick") == "unionpay"
    assert pricing.derived_channel_class("icbc_direct") == "other"


PIN = Pinned(
    merchant_price=Price(bps=60, fixed=3, minimum=10, cap=400),
    merchant_same_currency=True,
    refund_policy="proportional",
    cost_price=Price(bps=35, minimum=1),
    cost_same_currency=True,
    refund_returns_fee=True,
)


def test_partial_captures_charge_the_minimum_once_and_respect_the_cap() -> None:
    state = FeeState()
    fees = []
    for amount in (100, 100, 100_000):
        move = pricing.on_capture(state, PIN, amount)
        fees.append(move.merchant_fee)
        state = move.state
    # 10 (minimum) on 100, nothing more on 200 (still under the minimum), then to the cap.
    assert fees == [10, 0, 390]
    assert state.merchant_fee == PIN.merchant_price.fee(100_200) == 400


def test_full_refund_returns_exactly_the_fee_charged() -> None:
    state = pricing.on_capture(FeeState(), PIN, 3_333).state
    for amount in (1_111, 1_111, 1_111):
        state = pricing.on_refund(state, PIN, amount).state
    assert state.merchant_fee_refunded == state.merchant_fee
    assert state.channel_cost_refunded == state.channel_cost


def test_policy_none_keeps_the_fee() -> None:
    keep = replace(PIN, refund_policy="none", refund_returns_fee=False)
    state = pricing.on_capture(FeeState(), keep, 5_000).state
    move = pricing.on_refund(state, keep, 5_000)
    assert (move.merchant_fee, move.channel_cost) == (0, 0)


prices = st.builds(
    Price,
    bps=st.integers(0, 10_000),
    fixed=st.integers(0, 500),
    minimum=st.integers(0, 500),
    cap=st.one_of(st.none(), st.integers(500, 100_000)),
)
moves = st.lists(
    st.tuples(st.sampled_from(["capture", "refund"]), st.integers(1, 50_000)), max_size=30
)


@given(
    merchant=prices,
    cost=prices,
    policy=st.sampled_from(pricing.REFUND_POLICIES),
    returns=st.booleans(),
    sequence=moves,
)
def test_any_capture_refund_sequence_never_over_charges_or_over_refunds(
    merchant: Price, cost: Price, policy: str, returns: bool, sequence: list[tuple[str, int]]
) -> None:
    pinned = Pinned(merchant, True, policy, cost, True, returns)
    state = FeeState()
    for kind, amount in sequence:
        if kind == "refund":
            amount = min(amount, state.captured - state.refunded)
            if amount == 0:
                continue
            move = pricing.on_refund(state, pinned, amount)
        else:
            move = pricing.on_capture(state, pinned, amount)
        assert move.merchant_fee >= 0 and move.channel_cost >= 0
        state = move.state
        # Charged: exactly the pinned price of everything captured (never above it).
        assert state.merchant_fee == merchant.fee(state.captured)
        assert state.channel_cost == cost.fee(state.captured)
        assert state.merchant_fee <= state.captured
        # Returned: never more than charged; everything when everything was refunded.
        assert 0 <= state.merchant_fee_refunded <= state.merchant_fee
        assert 0 <= state.channel_cost_refunded <= state.channel_cost
        if policy == "none":
            assert state.merchant_fee_refunded == 0
        if not returns:
            assert state.channel_cost_refunded == 0
    if policy == "proportional" and state.captured and state.refunded == state.captured:
        assert state.merchant_fee_refunded == state.merchant_fee
