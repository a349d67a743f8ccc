"""ISO 4217 currencies and their minor-unit exponents, loaded from the shipped data file."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    numeric: str
    exponent: int
    name: str


@cache
def _table() -> dict[str, Currency]:
    text = resources.files("payhub.data").joinpath("iso4217.csv").read_text(encoding="utf-8")
    table: dict[str, Currency] = {}
    for row in csv.DictReader(text.splitlines()):
        # Codes without a minor unit (gold, SDR, testing codes) cannot carry money amounts.
        if not row["exponent"]:
            continue
        table[row["code"]] = Currency(
            code=row["code"],
            numeric=row["numeric"],
            exponent=int(row["exponent"]),
            name=row["name"],
        )
    return table


def get_currency(code: str) -> Currency | None:
    """The currency for an ISO 4217 alphabetic code, or None when it is not a money currency."""
    return _table().get(code)


def is_currency(code: str) -> bool:
    return code in _table()


def all_currencies() -> list[Currency]:
    return sorted(_table().values(), key=lambda c: c.code)
