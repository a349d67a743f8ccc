"""Labelled transactions in the IBM AMLworld CSV layout, for `payhub bench aml --input`.

The layout (HI-Small_Trans.csv and its siblings), eleven columns, two named Account:

    Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,
    Amount Paid,Payment Currency,Payment Format,Is Laundering

Times like `2022/09/01 00:20` carry no zone and are read as UTC. A party is its bank and
account (`bank:account`). The transaction is what the payer paid: Amount Paid in the
Payment Currency, in minor units (Bitcoin to the satoshi). The file's rows are sorted by
time here (the monitor wants time order). A malformed row stops the load with its line
number and what is wrong with it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

from payhub.bench.aml_generator import Labelled
from payhub.core.currencies import get_currency
from payhub.risk.monitoring import Transaction

HEADER = (
    "Timestamp",
    "From Bank",
    "Account",
    "To Bank",
    "Account",
    "Amount Received",
    "Receiving Currency",
    "Amount Paid",
    "Payment Currency",
    "Payment Format",
    "Is Laundering",
)

# The names AMLworld gives its currencies → ISO 4217 codes (XBT: Bitcoin, not ISO).
CURRENCIES = {
    "US Dollar": "USD",
    "Euro": "EUR",
    "Yuan": "CNY",
    "Yen": "JPY",
    "UK Pound": "GBP",
    "Swiss Franc": "CHF",
    "Australian Dollar": "AUD",
    "Canadian Dollar": "CAD",
    "Mexican Peso": "MXN",
    "Rupee": "INR",
    "Ruble": "RUB",
    "Shekel": "ILS",
    "Brazil Real": "BRL",
    "Saudi Riyal": "SAR",
    "Bitcoin": "XBT",
}
LAUNDERING = "laundering"  # the file labels rows, not typologies
_FORMATS = ("%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")


class AmlworldError(ValueError):
    """The file is not in the AMLworld layout; the message names the line."""


def _exponent(code: str) -> int:
    if code == "XBT":
        return 8
    spec = get_currency(code)
    return 2 if spec is None else spec.exponent


def _when(text: str) -> datetime:
    for layout in _FORMATS:
        try:
            return datetime.strptime(text.strip(), layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"bad timestamp {text!r} (expected YYYY/MM/DD HH:MM)")


def _minor(text: str, code: str) -> int:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"bad amount {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"bad amount {text!r}")
    return int((value.scaleb(_exponent(code))).quantize(Decimal(1), ROUND_HALF_EVEN))


def _row(line: int, row: list[str]) -> Labelled:
    if len(row) != len(HEADER):
        raise ValueError(f"{len(row)} columns, expected {len(HEADER)}")
    at, from_bank, from_account, to_bank, to_account = row[:5]
    paid, paid_currency, payment_format, laundering = row[7:]
    code = CURRENCIES.get(paid_currency.strip())
    if code is None:
        raise ValueError(f"unknown currency {paid_currency!r}")
    if laundering.strip() not in ("0", "1"):
        raise ValueError(f"Is Laundering must be 0 or 1, not {laundering!r}")
    if not from_account.strip() or not to_account.strip():
        raise ValueError("an account is empty")
    tx = Transaction(
        id=f"row{line}",
        at=_when(at),
        source=f"{from_bank.strip()}:{from_account.strip()}",
        target=f"{to_bank.strip()}:{to_account.strip()}",
        amount=_minor(paid, code),
        currency=code,
        kind="transfer",
        channel=payment_format.strip() or None,
    )
    return Labelled(tx, LAUNDERING if laundering.strip() == "1" else None)


def _rows(path: Path, limit: int | None) -> Iterator[Labelled]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise AmlworldError(f"{path}: empty file")
        if tuple(h.strip() for h in header) != HEADER:
            raise AmlworldError(
                f"{path}:1: not the AMLworld header; expected {','.join(HEADER)}, "
                f"got {','.join(header)}"
            )
        for index, row in enumerate(reader):
            if limit is not None and index >= limit:
                return
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                yield _row(line, row)
            except ValueError as error:
                raise AmlworldError(f"{path}:{line}: {error}") from None


def read_amlworld(path: Path, limit: int | None = None) -> list[Labelled]:
    """The file's transactions (the first `limit` rows, if given), in time order."""
    rows = list(_rows(path, limit))
    rows.sort(key=lambda t: t.tx.at)  # stable: rows of one minute keep file order
    return rows
