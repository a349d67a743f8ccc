"""Money: integer minor units of a real ISO 4217 currency, exact and never mixed."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payhub.core.currencies import all_currencies, get_currency, is_currency
from payhub.core.errors import PayHubError
from payhub.core.money import MAX_MINOR, Money, check_amount, check_currency


def raises_code(code: str) -> pytest.RaisesExc[PayHubError]:
    return pytest.raises(PayHubError, match=rf"^{code}: ")


# ---------------------------------------------------------------- the currency table


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("JPY", 0), ("KRW", 0), ("CNY", 2), ("USD", 2), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
)
def test_exponents_come_from_the_shipped_table(code: str, exponent: int) -> None:
    spec = get_currency(code)
    assert spec is not None
    assert spec.code == code
    assert spec.exponent == exponent
    assert Money(1, code).exponent == exponent


def test_table_has_numeric_codes_and_names() -> None:
    cny = get_currency("CNY")
    assert cny is not None
    assert (cny.numeric, cny.name) == ("156", "Yuan Renminbi")
    jpy = get_currency("JPY")
    assert jpy is not None
    assert jpy.numeric == "392"


def test_codes_without_a_minor_unit_are_not_money() -> None:
    # Gold, silver and the testing code have no exponent in ISO 4217.
    for code in ("XAU", "XAG", "XTS"):
        assert get_currency(code) is None
        assert not is_currency(code)
    codes = [c.code for c in all_currencies()]
    assert codes == sorted(codes)
    assert {"CNY", "USD", "JPY", "KWD", "CLF"} <= set(codes)
    assert "XAU" not in codes
    assert all(c.exponent in (0, 2, 3, 4) for c in all_currencies())


# ---------------------------------------------------------------- construction


@pytest.mark.parametrize("code", ["XYZ", "cny", "CN", "CNYY", "", "XAU"])
def test_unknown_currency_is_currency_invalid(code: str) -> None:
    with raises_code("currency_invalid") as caught:
        Money(100, code)
    assert caught.value.code == "currency_invalid"
    assert caught.value.param == "currency"
    assert caught.value.status == 400


def test_amount_limits_are_64_bit() -> None:
    assert Money(MAX_MINOR, "CNY").amount == 2**63 - 1
    assert Money(-MAX_MINOR, "CNY").amount == -(2**63 - 1)
    with raises_code("amount_too_large"):
        Money(2**63, "CNY")
    with raises_code("amount_too_large"):
        Money(-(2**63), "CNY")
    with raises_code("amount_too_large"):
        Money(10**30, "JPY")


@pytest.mark.parametrize("bad", [True, False, 1.0, 19.99, Decimal("1"), "100", None])
def test_non_integer_amounts_are_refused(bad: object) -> None:
    with raises_code("amount_invalid"):
        Money(bad, "CNY")  # type: ignore[arg-type]


def test_arithmetic_overflow_is_refused() -> None:
    big = Money(MAX_MINOR, "USD")
    with raises_code("amount_too_large"):
        big + Money(1, "USD")
    with raises_code("amount_too_large"):
        -big - Money(2, "USD")


# ---------------------------------------------------------------- arithmetic and comparison


def test_arithmetic_in_one_currency() -> None:
    a, b = Money(1999, "CNY"), Money(1, "CNY")
    assert a + b == Money(2000, "CNY")
    assert a - b == Money(1998, "CNY")
    assert b - a == Money(-1998, "CNY")
    assert -a == Money(-1999, "CNY")
    assert Money.zero("JPY") == Money(0, "JPY")
    assert Money.zero("JPY").is_zero()
    assert not a.is_zero()
    assert a > b
    assert a >= b
    assert b < a
    assert b <= a
    assert a <= Money(1999, "CNY")
    assert a >= Money(1999, "CNY")


def test_equality_includes_the_currency() -> None:
    assert Money(100, "CNY") == Money(100, "CNY")
    assert Money(100, "CNY") != Money(100, "USD")
    assert hash(Money(100, "CNY")) == hash(Money(100, "CNY"))


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_mixed_currencies_are_refused(operation: object) -> None:
    with raises_code("currency_mismatch") as caught:
        operation(Money(100, "CNY"), Money(100, "USD"))  # type: ignore[operator]
    assert caught.value.message() == "The currencies do not match: CNY vs USD"
    assert caught.value.status == 400


def test_combining_with_a_plain_number_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Money(1, "CNY") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "CNY") < 2  # type: ignore[operator]  # noqa: B015


# ---------------------------------------------------------------- decimals and formatting


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("19.99", "CNY", 1999),
        ("0.01", "CNY", 1),
        ("19.90", "CNY", 1990),
        ("19.9", "USD", 1990),
        ("500", "JPY", 500),
        ("500.0", "JPY", 500),
        ("1.005", "KWD", 1005),
        ("0.001", "BHD", 1),
        ("1.2345", "CLF", 12345),
        ("-3.50", "USD", -350),
        ("1E+2", "KRW", 100),
        ("92233720368547758.07", "CNY", MAX_MINOR),
    ],
)
def test_from_decimal_is_exact(text: str, currency: str, minor: int) -> None:
    money = Money.from_decimal(text, currency)
    assert money == Money(minor, currency)
    assert Money.from_decimal(Decimal(text), currency) == money


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("1.234", "CNY"),
        ("0.001", "USD"),
        ("500.5", "JPY"),
        ("1.0005", "KWD"),
        ("1.00001", "CLF"),
        ("abc", "CNY"),
        ("", "CNY"),
        ("NaN", "CNY"),
        ("Infinity", "CNY"),
    ],
)
def test_from_decimal_refuses_rather_than_rounds(text: str, currency: str) -> None:
    with raises_code("amount_invalid"):
        Money.from_decimal(text, currency)


def test_from_decimal_checks_currency_and_size() -> None:
    with raises_code("currency_invalid"):
        Money.from_decimal("1.00", "ABC")
    with raises_code("amount_too_large"):
        Money.from_decimal("92233720368547758.08", "CNY")


@pytest.mark.parametrize("value", [0.5, True])
def test_from_decimal_refuses_floats_and_bools(value: object) -> None:
    with raises_code("amount_invalid"):
        Money.from_decimal(value, "CNY")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1999, "CNY", "19.99 CNY"),
        (1990, "CNY", "19.90 CNY"),
        (0, "CNY", "0.00 CNY"),
        (1, "USD", "0.01 USD"),
        (-1999, "CNY", "-19.99 CNY"),
        (500, "JPY", "500 JPY"),
        (0, "KRW", "0 KRW"),
        (1005, "KWD", "1.005 KWD"),
        (5, "BHD", "0.005 BHD"),
        (5, "CLF", "0.0005 CLF"),
        (MAX_MINOR, "CNY", "92233720368547758.07 CNY"),
    ],
)
def test_format(minor: int, currency: str, text: str) -> None:
    money = Money(minor, currency)
    assert money.format() == text
    assert str(money) == text
    assert Money.from_decimal(text.split()[0], currency) == money


def test_to_decimal() -> None:
    assert Money(1999, "CNY").to_decimal() == Decimal("19.99")
    assert Money(500, "JPY").to_decimal() == Decimal("500")
    assert Money(1005, "KWD").to_decimal() == Decimal("1.005")


# ---------------------------------------------------------------- validators


def test_check_amount() -> None:
    assert check_amount(1) == 1
    assert check_amount(MAX_MINOR) == MAX_MINOR
    assert check_amount(0, allow_zero=True) == 0
    with raises_code("amount_invalid") as caught:
        check_amount(0)
    assert caught.value.param == "amount"
    with raises_code("amount_invalid"):
        check_amount(-1)
    with raises_code("amount_invalid"):
        check_amount(-1, allow_zero=True)
    with raises_code("amount_too_large") as caught:
        check_amount(MAX_MINOR + 1, param="postings[0].amount")
    assert caught.value.param == "postings[0].amount"
    for bad in (True, False, 1.0, 100.5, "100", None, Decimal(1)):
        with raises_code("amount_invalid"):
            check_amount(bad)  # type: ignore[arg-type]


def test_check_currency() -> None:
    for code in ("CNY", "USD", "JPY", "KWD", "CLF", "HKD", "EUR"):
        assert check_currency(code) == code
    for bad in ("cny", "XXX", "XAU", "RMB", "", "CNY ", 156, None):
        with raises_code("currency_invalid") as caught:
            check_currency(bad)  # type: ignore[arg-type]
        assert caught.value.param == "currency"
    with raises_code("currency_invalid") as caught:
        check_currency("RMB")
    assert caught.value.message() == "RMB is not an ISO 4217 currency that carries money."


# ---------------------------------------------------------------- allocation


def test_allocate_examples() -> None:
    assert Money(100, "CNY").allocate([1, 1, 1]) == [
        Money(34, "CNY"),
        Money(33, "CNY"),
        Money(33, "CNY"),
    ]
    assert Money(5, "JPY").allocate([3, 7]) == [Money(2, "JPY"), Money(3, "JPY")]
    assert Money(-100, "CNY").allocate([1, 1, 1]) == [
        Money(-34, "CNY"),
        Money(-33, "CNY"),
        Money(-33, "CNY"),
    ]
    assert Money(10, "USD").allocate([0, 1]) == [Money(0, "USD"), Money(10, "USD")]
    # The remainder goes to the largest fractional share, not simply to the first part.
    assert Money(10, "USD").allocate([1, 2]) == [Money(3, "USD"), Money(7, "USD")]


@pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1]])
def test_allocate_refuses_bad_ratios(ratios: list[int]) -> None:
    with pytest.raises(ValueError):
        Money(100, "CNY").allocate(ratios)


currencies = st.sampled_from(["CNY", "JPY", "KWD", "CLF", "USD"])
amounts = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)


@given(
    amount=amounts,
    currency=currencies,
    ratios=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(
        lambda r: sum(r) > 0
    ),
)
def test_allocate_loses_nothing_and_stays_within_one_unit(
    amount: int, currency: str, ratios: list[int]
) -> None:
    money = Money(amount, currency)
    parts = money.allocate(ratios)
    assert len(parts) == len(ratios)
    assert all(p.currency == currency for p in parts)
    assert sum(p.amount for p in parts) == amount
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Fraction(amount * ratio, total)
        assert abs(part.amount - exact) < 1
        if ratio == 0:
            assert part.amount == 0


@given(
    a=st.integers(min_value=-(2**62) + 1, max_value=2**62 - 1),
    b=st.integers(min_value=-(2**62) + 1, max_value=2**62 - 1),
    currency=currencies,
)
def test_add_then_subtract_is_identity(a: int, b: int, currency: str) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert x + y - y == x
    assert (x + y).amount == a + b
    assert x - y == -(y - x)


@given(amount=amounts, currency=currencies)
def test_format_round_trips_through_from_decimal(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    number, code = money.format().split(" ")
    assert code == currency
    assert Money.from_decimal(number, currency) == money
