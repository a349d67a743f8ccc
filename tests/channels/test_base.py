"""The adapter contract: card data that never leaks, response codes, results, eligibility."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, time

import pytest

from payhub.channels.base import (
    HARD_DECLINE_CODES,
    RESPONSE_CODES,
    SOFT_DECLINE_CODES,
    AuthorizeRequest,
    BankAccount,
    BusinessHours,
    CardData,
    CardType,
    ChannelInfo,
    ChannelKind,
    ChannelResult,
    ChannelStatus,
    DeclineClass,
    fee_for,
    luhn_valid,
    response_code,
)
from payhub.core.errors import CATALOGUE
from tests.channels.helpers import CVV, PAN, auth_request, card


def test_card_repr_masks_the_pan_and_hides_the_cvv() -> None:
    data = card()
    request = auth_request(card_data=data)
    for text in (repr(data), str(data), f"{data}", f"{data!r}", repr(request), str(request)):
        assert PAN not in text
        assert PAN[:6] not in text  # not even the BIN
        assert PAN[6:12] not in text
        assert CVV not in text
        assert "cvv" not in text.lower()
        assert "****7894" in text
    assert data.masked_pan == "****7894"
    assert data.last4 == "7894"


def test_card_mask_does_not_tell_the_length() -> None:
    short, long = card(pan="424242424242"), card(pan="6222021234567890003")
    assert repr(short).count("*") == repr(long).count("*")


def test_card_still_carries_what_the_channel_needs() -> None:
    data = card()
    assert data.pan == PAN and data.cvv == CVV
    assert pickle.loads(pickle.dumps(data)) == data
    with pytest.raises(AttributeError):
        data.pan = "4111111111111111"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pan": "62220212345678x4"}, "digits"),
        ({"pan": "62220"}, "12 to 19"),
        ({"exp_month": 13}, "exp_month"),
        ({"exp_year": 31}, "exp_year"),
        ({"cvv": "12"}, "CVV"),
        ({"issuer_code": ""}, "issuer_code"),
    ],
)
def test_card_validation_never_echoes_the_number(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "pan": PAN,
        "exp_month": 12,
        "exp_year": 2031,
        "cvv": CVV,
        "issuer_code": "ICBC",
        "card_type": "debit",
        "brand": "unionpay",
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message) as info:
        CardData(**fields)  # type: ignore[arg-type]
    assert "62220" not in str(info.value) and CVV not in str(info.value)


def test_card_type_is_coerced_and_expiry_runs_to_month_end() -> None:
    data = CardData(PAN, 11, 2026, None, "ICBC", "credit", "unionpay")  # type: ignore[arg-type]
    assert data.card_type is CardType.CREDIT
    assert not data.expired_at(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    assert data.expired_at(datetime(2026, 12, 1, tzinfo=UTC))


def test_bank_account_repr_is_masked() -> None:
    account = BankAccount("ICBC", "6212260200012345678", "Noodles")
    assert "6212260200012345678" not in repr(account)
    assert "****5678" in repr(account)


def test_luhn() -> None:
    assert luhn_valid(PAN)
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111x1111111111")


@pytest.mark.parametrize(
    ("code", "catalogue", "klass"),
    [
        ("51", "insufficient_funds", DeclineClass.HARD),
        ("54", "card_expired", DeclineClass.HARD),
        ("14", "card_number_invalid", DeclineClass.HARD),
        ("41", "card_lost_or_stolen", DeclineClass.HARD),
        ("43", "card_lost_or_stolen", DeclineClass.HARD),
        ("57", "card_not_permitted", DeclineClass.HARD),
        ("05", "card_declined", DeclineClass.SOFT),
        ("91", "issuer_unavailable", DeclineClass.SOFT),
        ("96", "channel_error", DeclineClass.SOFT),
    ],
)
def test_card_network_codes_map_to_the_catalogue(
    code: str, catalogue: str, klass: DeclineClass
) -> None:
    rc = response_code(code)
    assert rc.error_code == catalogue
    assert rc.decline_class is klass
    result = ChannelResult(ChannelStatus.DECLINED, raw_code=code)
    assert result.error_code == catalogue
    assert result.decline_class is klass


def test_every_mapped_code_is_in_the_catalogue() -> None:
    assert response_code("00").error_code is None
    for rc in RESPONSE_CODES.values():
        assert rc.error_code is None or rc.error_code in CATALOGUE, rc
    assert {"51", "54", "14", "41", "43", "57"} == HARD_DECLINE_CODES
    assert {"05", "91", "96"} <= SOFT_DECLINE_CODES
    assert not HARD_DECLINE_CODES & SOFT_DECLINE_CODES


def test_channel_catalogue_entries() -> None:
    for code, status, retryable in [
        ("card_declined", 402, False),
        ("card_lost_or_stolen", 402, False),
        ("card_not_permitted", 402, False),
        ("issuer_unavailable", 402, True),
        ("channel_error", 502, True),
        ("channel_timeout", 504, True),
    ]:
        spec = CATALOGUE[code]
        assert (spec.status, spec.retryable) == (status, retryable)
        assert spec.message_zh and spec.message_en


def test_unknown_codes_are_soft_declines() -> None:
    rc = response_code("Z9")
    assert rc.decline_class is DeclineClass.SOFT and rc.error_code == "card_declined"
    assert ChannelResult(ChannelStatus.DECLINED, raw_code="Z9").decline_class is DeclineClass.SOFT


def test_result_helpers() -> None:
    approved = ChannelResult(ChannelStatus.APPROVED, "00", "Approved", "AUT1", 80, 1000)
    assert approved.outcome_known and approved.error_code is None
    assert approved.decline_class is None
    for status in (ChannelStatus.TIMEOUT, ChannelStatus.LOST):
        unknown = ChannelResult(status, latency_ms=3000)
        assert not unknown.outcome_known
        assert unknown.error_code == "channel_timeout"
    assert ChannelResult(ChannelStatus.ERROR, "40").error_code == "channel_error"
    assert ChannelResult(ChannelStatus.NOT_FOUND, "25").error_code is None


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [(10_000, 35, 35), (3_500, 35, 12), (150, 100, 2), (250, 100, 2), (350, 100, 4), (1, 1, 0)],
)
def test_fees_round_half_even(amount: int, bps: int, fee: int) -> None:
    # 3500 × 0.35 % = 12.25 → 12; 1.5 → 2; 2.5 → 2; 3.5 → 4.
    assert fee_for(amount, bps) == fee


def test_business_hours_in_beijing_time() -> None:
    hours = BusinessHours(frozenset({1, 2, 3, 4, 5}), time(8, 30), time(17, 15))
    wednesday = datetime(2026, 11, 25, tzinfo=UTC)
    assert not hours.is_open(wednesday.replace(hour=0, minute=29))  # 08:29 Beijing
    assert hours.is_open(wednesday.replace(hour=0, minute=30))
    assert hours.is_open(wednesday.replace(hour=9, minute=14))  # 17:14
    assert not hours.is_open(wednesday.replace(hour=9, minute=15))
    assert not hours.is_open(datetime(2026, 11, 28, 2, tzinfo=UTC))  # Saturday


def test_channel_info_refusals() -> None:
    info = ChannelInfo(
        channel_id="c",
        kind=ChannelKind.CARD,
        issuers=frozenset({"ICBC"}),
        card_types=frozenset({CardType.DEBIT}),
        currencies=frozenset({"CNY"}),
        min_amount=100,
        max_amount=10_000,
        fee_bps_debit=30,
        fee_bps_credit=50,
        fee_fixed_minor=0,
        timeout_ms=3000,
        latency_median_ms=100,
        latency_p99_ms=400,
    )
    ok = {"issuer": "ICBC", "amount": 5000, "currency": "CNY", "card_type": CardType.DEBIT}
    assert info.accepts(**ok)  # type: ignore[arg-type]
    assert info.refusal(**{**ok, "issuer": "CCB"}) == "58"  # type: ignore[arg-type]
    assert info.refusal(**{**ok, "currency": "USD"}) == "58"  # type: ignore[arg-type]
    assert info.refusal(**{**ok, "card_type": CardType.CREDIT}) == "58"  # type: ignore[arg-type]
    assert info.refusal(**{**ok, "amount": 99}) == "13"  # type: ignore[arg-type]
    assert info.refusal(**{**ok, "amount": 10_001}) == "61"  # type: ignore[arg-type]
    assert info.fee(10_000, CardType.CREDIT) == 50
    assert info.fee(10_000) == 30


def test_requests_are_frozen_values() -> None:
    request = auth_request()
    assert isinstance(request, AuthorizeRequest)
    with pytest.raises(AttributeError):
        request.amount = 1  # type: ignore[misc]
    assert request.scene == "ecommerce" and request.reference is None
