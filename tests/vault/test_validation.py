"""Card-number, expiry and bank-account checks, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from stdnum import luhn

from payhub.core.errors import PayHubError
from payhub.vault import validation
from tests.vault.helpers import assert_no_card_data, card, error_texts


def _code(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(PayHubError) as info:
        call(*args, **kwargs)
    return info.value.code


def _with_bad_check_digit(pan: str) -> str:
    return pan[:-1] + str((int(pan[-1]) + 1) % 10)


def _luhn_valid(body: str) -> str:
    return body + str(luhn.calc_check_digit(body))


def test_a_good_number_resolves_to_its_bin() -> None:
    pan = card("CMB", "credit")
    number, info = validation.validate_card_number(pan)
    assert number == pan
    assert info.issuer_code == "CMB" and info.card_type == "credit"


def test_spaces_and_dashes_are_ignored() -> None:
    pan = card("ICBC", "debit")
    spaced = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    dashed = "-".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    assert validation.validate_card_number(f"  {spaced} ")[0] == pan
    assert validation.validate_card_number(dashed)[0] == pan


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "6222 02ab 1234 5678 901",
        "6222.0212.3456.7890",
        "622202/1234567890123",
        "６２２２０２１２３４５６７８９０１２３",  # full-width digits are not ASCII digits
        "62220212345678901²",
        "0" * 12,  # too short even if Luhn-valid
        "0" * 20,  # too long
    ],
)
def test_characters_and_lengths(bad: str) -> None:
    assert _code(validation.validate_card_number, bad) == "card_number_invalid"


def test_not_a_string() -> None:
    assert _code(validation.validate_card_number, 6222021234567890123) == "card_number_invalid"
    assert _code(validation.validate_card_number, None) == "card_number_invalid"


def test_luhn() -> None:
    pan = card("ABC", "debit")
    assert _code(validation.validate_card_number, _with_bad_check_digit(pan)) == (
        "card_number_invalid"
    )


def test_length_must_be_the_bins() -> None:
    # ICBC 622202 numbers are 19 digits: a Luhn-valid 16-digit one is not a card.
    assert _code(validation.validate_card_number, _luhn_valid("622202123456789")) == (
        "card_number_invalid"
    )


def test_unknown_bin() -> None:
    # Luhn-valid, plausible length, prefix not in the table.
    assert _code(validation.validate_card_number, _luhn_valid("123456789012345")) == (
        "card_bin_unknown"
    )


NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("month", "year", "code"),
    [
        (13, 2027, "card_expiry_invalid"),
        (0, 2027, "card_expiry_invalid"),
        (-1, 2027, "card_expiry_invalid"),
        (True, 2027, "card_expiry_invalid"),
        ("12", 2027, "card_expiry_invalid"),
        (12, 27, "card_expiry_invalid"),  # two-digit years are refused, not guessed
        (12, 10000, "card_expiry_invalid"),
        (12, 2090, "card_expiry_invalid"),  # decades ahead: a typo, not a card
        (12, 2025, "card_expired"),
        (1, 1999, "card_expired"),
        (10, 2026, "card_expired"),
    ],
)
def test_bad_expiry(month: object, year: object, code: str) -> None:
    assert _code(validation.validate_expiry, month, year, now=NOW) == code


def test_a_card_is_valid_through_the_end_of_its_month() -> None:
    validation.validate_expiry(11, 2026, now=NOW)
    validation.validate_expiry(11, 2026, now=datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    assert (
        _code(validation.validate_expiry, 11, 2026, now=datetime(2026, 12, 1, tzinfo=UTC))
        == "card_expired"
    )
    validation.validate_expiry(1, 2027, now=NOW)
    validation.validate_expiry(12, 2076, now=NOW)


def test_expiry_is_judged_in_utc() -> None:
    # 08:00 on 1 December in Beijing is still 30 November in UTC.
    from datetime import timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    validation.validate_expiry(11, 2026, now=datetime(2026, 12, 1, 7, 59, tzinfo=beijing))


def test_refusals_never_carry_the_number() -> None:
    pan = card("BOC", "credit")
    for bad in (_with_bad_check_digit(pan), pan + "1", pan[:-3], pan[:8] + "x" + pan[9:]):
        with pytest.raises(PayHubError) as info:
            validation.validate_card_number(bad)
        assert info.value.fields == {}
        for text in error_texts(info.value):
            assert_no_card_data(text, bad)
            assert_no_card_data(text, pan)


@pytest.mark.parametrize("code", ["ICBC", "icbc", " PARTNER ", "CITYBANK7"])
def test_known_bank_codes(code: str) -> None:
    assert validation.validate_bank_code(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["", "NOPE", None, 5, "ICBC1"])
def test_unknown_bank_codes(code: object) -> None:
    assert _code(validation.validate_bank_code, code) == "bank_account_invalid"


@pytest.mark.parametrize("number", ["1234567", "1" * 31, "12345678x", "", None, "１２３４５６７８"])
def test_bad_account_numbers(number: object) -> None:
    assert _code(validation.validate_account_number, number) == "bank_account_invalid"


def test_account_numbers_may_be_spaced() -> None:
    assert validation.validate_account_number("1100 2233-4455 6677") == "1100223344556677"
