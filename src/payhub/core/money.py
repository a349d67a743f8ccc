"""Money: integer minor units plus an ISO 4217 currency. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from payhub.core.currencies import get_currency
from payhub.core.errors import PayHubError

# Amounts are stored as signed 64-bit integers in both databases.
MAX_MINOR = 2**63 - 1


def check_currency(code: str, *, param: str = "currency") -> str:
    """The code itself when it names a money currency, else a catalogue error."""
    if not isinstance(code, str) or get_currency(code) is None:
        raise PayHubError("currency_invalid", param=param, currency=str(code)[:8])
    return code


def check_amount(amount: int, *, param: str = "amount", allow_zero: bool = False) -> int:
    """A positive (or, if allowed, zero) amount that fits in 64 bits, else a catalogue error."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise PayHubError("amount_invalid", param=param)
    if amount > MAX_MINOR:
        raise PayHubError("amount_too_large", param=param)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise PayHubError("amount_invalid", param=param)
    return amount


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount of one currency. Arithmetic refuses to mix currencies."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise PayHubError("amount_invalid", param="amount")
        if abs(self.amount) > MAX_MINOR:
            raise PayHubError("amount_too_large", param="amount")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: str | Decimal, currency: str) -> Money:
        """Parse a major-unit amount such as "19.99" exactly; more decimals than the currency has
        are refused rather than rounded."""
        exponent = _exponent(currency)
        if not isinstance(value, str | Decimal):
            # Floats are inexact and bools are not amounts: take text or Decimal only.
            raise PayHubError("amount_invalid", param="amount")
        try:
            dec = Decimal(value)
        except (InvalidOperation, TypeError):
            raise PayHubError("amount_invalid", param="amount") from None
        if not dec.is_finite():
            raise PayHubError("amount_invalid", param="amount")
        scaled = dec.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise PayHubError("amount_invalid", param="amount")
        return cls(int(scaled), currency)

    @property
    def exponent(self) -> int:
        return _exponent(self.currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-self.exponent)

    def format(self) -> str:
        """Major units with the currency's own number of decimals: '19.99 CNY', '500 JPY'."""
        quantum = Decimal(1).scaleb(-self.exponent)
        return f"{self.to_decimal().quantize(quantum, rounding=ROUND_HALF_EVEN)} {self.currency}"

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise PayHubError("currency_mismatch", detail=f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def allocate(self, ratios: list[int]) -> list[Money]:
        """Split into parts proportional to non-negative integer ratios, losing no minor unit:
        the remainder goes one unit at a time to the parts with the largest fractional share."""
        if not ratios or any(r < 0 for r in ratios) or sum(ratios) == 0:
            raise ValueError("ratios must be non-negative and not all zero")
        total = sum(ratios)
        sign = -1 if self.amount < 0 else 1
        magnitude = abs(self.amount)
        shares = [magnitude * r // total for r in ratios]
        remainders = [(magnitude * r % total, -i) for i, r in enumerate(ratios)]
        for _, neg_index in sorted(remainders, reverse=True)[: magnitude - sum(shares)]:
            shares[-neg_index] += 1
        return [Money(sign * s, self.currency) for s in shares]

    def __str__(self) -> str:
        return self.format()


def _exponent(currency: str) -> int:
    spec = get_currency(currency)
    if spec is None:
        raise PayHubError("currency_invalid", param="currency", currency=str(currency)[:8])
    return spec.exponent
