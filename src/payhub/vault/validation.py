"""Checks on card numbers, expiry dates and bank accounts, before anything is stored.

Every refusal is a catalogue error whose message and fields carry no digit of the number.
"""

from __future__ import annotations

from datetime import datetime

from stdnum import luhn

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.vault import bins
from payhub.vault.bins import BinInfo

# How far ahead an expiry year may be: cards are issued for a few years, never decades.
MAX_YEARS_AHEAD = 50
MIN_ACCOUNT_DIGITS = 8
MAX_ACCOUNT_DIGITS = 30
MAX_NAME = 200
MAX_REF = 40

_SEPARATORS = str.maketrans("", "", " -")


def _digits(raw: object) -> str | None:
    """`raw` with spaces and dashes removed, if what is left is ASCII digits; else None."""
    if not isinstance(raw, str):
        return None
    digits = raw.strip().translate(_SEPARATORS)
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def validate_card_number(raw: object) -> tuple[str, BinInfo]:
    """The card number as digits and its BIN row.

    `card_number_invalid`: characters other than digits, spaces and dashes; a length outside
    13–19 or other than the BIN's; a failed Luhn check. `card_bin_unknown`: a well-formed
    number whose prefix is not in the BIN table."""
    pan = _digits(raw)
    if pan is None or not bins.MIN_PAN_LENGTH <= len(pan) <= bins.MAX_PAN_LENGTH:
        raise PayHubError("card_number_invalid", param="pan")
    if not luhn.is_valid(pan):
        raise PayHubError("card_number_invalid", param="pan")
    info = bins.lookup(pan)
    if info is None:
        raise PayHubError("card_bin_unknown", param="pan")
    if len(pan) != info.pan_length:
        raise PayHubError("card_number_invalid", param="pan")
    return pan, info


def validate_expiry(exp_month: object, exp_year: object, *, now: datetime | None = None) -> None:
    """Month 1–12, a four-digit year, and not in the past: a card is valid through the last
    day of its expiry month (UTC)."""
    if isinstance(exp_month, bool) or not isinstance(exp_month, int) or not 1 <= exp_month <= 12:
        raise PayHubError("card_expiry_invalid", param="exp_month")
    if isinstance(exp_year, bool) or not isinstance(exp_year, int) or not 1000 <= exp_year <= 9999:
        raise PayHubError("card_expiry_invalid", param="exp_year")
    today = clock.ensure_utc(now) if now is not None else clock.now()
    if exp_year < today.year:
        raise PayHubError("card_expired", param="exp_year")
    if exp_year == today.year and exp_month < today.month:
        raise PayHubError("card_expired", param="exp_month")
    if exp_year > today.year + MAX_YEARS_AHEAD:
        raise PayHubError("card_expiry_invalid", param="exp_year")


def validate_holder_name(raw: object, *, required: bool, error: str, param: str) -> str | None:
    """A name trimmed of surrounding spaces; None when blank and not required."""
    if raw is None and not required:
        return None
    if not isinstance(raw, str):
        raise _name_error(error, param)
    name = raw.strip()
    if not name:
        if required:
            raise _name_error(error, param)
        return None
    if len(name) > MAX_NAME or not name.isprintable():
        raise _name_error(error, param)
    return name


def _name_error(error: str, param: str) -> PayHubError:
    if error == "validation_error":
        return PayHubError(
            error, param=param, detail=f"{param} must be a name of 1 to {MAX_NAME} characters"
        )
    return PayHubError(error, param=param)


def validate_ref(raw: object, param: str, *, max_length: int = MAX_REF) -> str:
    """A merchant, customer or owner reference: a non-empty string that fits its column."""
    if not isinstance(raw, str) or not raw or len(raw) > max_length or not raw.isprintable():
        raise PayHubError(
            "validation_error", param=param, detail=f"{param} must be 1 to {max_length} characters"
        )
    return raw


def validate_bank_code(raw: object) -> str:
    """A bank code must be an issuer of the BIN table (the banks PayHub can pay out to)."""
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if not code or bins.get_issuer(code) is None:
        raise PayHubError("bank_account_invalid", param="bank_code")
    return code


def validate_account_number(raw: object) -> str:
    """8 to 30 digits once spaces and dashes are removed (no check digit: corporate account
    numbers of Chinese banks do not carry a Luhn digit)."""
    number = _digits(raw)
    if number is None or not MIN_ACCOUNT_DIGITS <= len(number) <= MAX_ACCOUNT_DIGITS:
        raise PayHubError("bank_account_invalid", param="account_number")
    return number
