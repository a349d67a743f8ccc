"""Converting PayHub values (integer minor units, UTC datetimes, plain strings) to and from
the text of ISO 20022 elements."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from stdnum import iban

from payhub.core.currencies import get_currency
from payhub.core.errors import PayHubError

# XML 1.0 cannot carry most control characters: refuse them before lxml does.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}")
_CNAPS = re.compile(r"[0-9]{12}")  # China National Advanced Payment System bank code


def exponent(currency: str, *, param: str = "currency") -> int:
    spec = get_currency(currency)
    if spec is None:
        raise PayHubError("currency_invalid", param=param, currency=str(currency)[:8])
    return spec.exponent


def amount_text(minor: int, currency: str) -> str:
    """Minor units as the decimal ISO 20022 amounts use: 1234 CNY → "12.34", 500 JPY → "500",
    1234 KWD → "1.234". Exact: no float is involved."""
    places = exponent(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"


def parse_amount(text: str, currency: str) -> int | None:
    """A decimal amount in minor units, or None when it has more decimals than the currency
    has (a minor unit would be lost) or is not a number."""
    spec = get_currency(currency)
    if spec is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    scaled = value.scaleb(spec.exponent)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def sum_text(amounts: list[tuple[int, str]]) -> str:
    """A control sum: the plain decimal sum of every amount, whatever its currency."""
    total = sum((Decimal(m).scaleb(-exponent(c)) for m, c in amounts), Decimal(0))
    return format(total, "f")


def datetime_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, microseconds kept when there are any."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime(text: str) -> datetime | None:
    """A UTC datetime, or None for a time without an offset (local to whom?)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def is_iban(account: str) -> bool:
    return bool(_IBAN_SHAPE.fullmatch(account)) and iban.is_valid(account)


def is_bic(code: str) -> bool:
    return bool(_BIC.fullmatch(code))


def is_cnaps(code: str) -> bool:
    return bool(_CNAPS.fullmatch(code))


def mask(value: str) -> str:
    """An account number or id for display: the last four characters only."""
    return "****" + value[-4:] if len(value) > 4 else "****"


def check_text(value: object, limit: int, field: str) -> str:
    """Text that fits an ISO 20022 MaxNText element (1 to `limit` characters)."""
    if not isinstance(value, str) or not value or not value.strip():
        raise PayHubError("validation_error", param=field, detail=f"{field} must not be empty")
    if len(value) > limit:
        raise PayHubError(
            "validation_error", param=field, detail=f"{field} is longer than {limit} characters"
        )
    if _NOT_XML.search(value):
        raise PayHubError(
            "validation_error", param=field, detail=f"{field} holds a control character"
        )
    return value


def check_moment(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise PayHubError(
            "validation_error", param=field, detail=f"{field} must be a datetime with a timezone"
        )
    return value
