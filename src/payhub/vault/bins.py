"""The BIN table: which issuer, brand and card type a card number belongs to.

The table ships as `payhub/data/bins.csv` (columns `prefix, issuer_code, issuer_name_en,
issuer_name_zh, brand, card_type, pan_length`). A card resolves to the row with the longest
prefix that starts its number, so an 8-digit row refines a 6-digit one.

**This is a curated sample, not the card networks' BIN table.** It holds:

* the partner bank (`PARTNER`, a city commercial bank). Its prefixes (`623208` debit, with
  `62320899` inside it for the co-branded credit card, and `62520801`/`62520802` credit) are
  invented for PayHub and chosen not to overlap any real prefix listed here;
* a handful of well-known prefixes of fifteen large Chinese issuers (ICBC, CCB, ABC, BOC,
  BOCOM, CMB, CITIC, CEB, CMBC, PAB, SPDB, CIB, HXB, PSBC, GDB), debit and credit ranges
  where known, UnionPay and international brands. They are written from public knowledge of
  these banks' cards, not from a licensed network file: a real card may be missing, and some
  rows may be wrong (see docs/vault.md);
* a few small city and rural banks (`CITYBANK7`, …) with invented names and prefixes, so the
  simulator and the demo have small issuers to route.

A production deployment replaces the file with the networks' full table (UnionPay and the
international schemes publish theirs to members), keeping the columns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

BRANDS = ("unionpay", "visa", "mastercard", "jcb", "amex")
CARD_TYPES = ("debit", "credit")
PREFIX_LENGTHS = (8, 6)  # longest first: the order `lookup` tries them in
MIN_PAN_LENGTH = 13
MAX_PAN_LENGTH = 19


@dataclass(frozen=True, slots=True)
class Issuer:
    code: str
    name_en: str
    name_zh: str


@dataclass(frozen=True, slots=True)
class BinInfo:
    prefix: str
    issuer_code: str
    issuer_name_en: str
    issuer_name_zh: str
    brand: str
    card_type: str
    pan_length: int

    @property
    def issuer(self) -> Issuer:
        return Issuer(self.issuer_code, self.issuer_name_en, self.issuer_name_zh)


class BinTable:
    """BIN rows indexed by prefix; `lookup` takes the longest matching prefix."""

    def __init__(self, rows: list[BinInfo]) -> None:
        self._by_prefix: dict[str, BinInfo] = {}
        self._issuers: dict[str, Issuer] = {}
        for row in rows:
            _check_row(row)
            if row.prefix in self._by_prefix:
                raise ValueError(f"BIN prefix {row.prefix} is listed twice")
            known = self._issuers.setdefault(row.issuer_code, row.issuer)
            if known != row.issuer:
                raise ValueError(f"issuer {row.issuer_code} has two different names")
            self._by_prefix[row.prefix] = row

    def lookup(self, pan: str) -> BinInfo | None:
        """The row for a card number (digits only), or None when no prefix matches."""
        for length in PREFIX_LENGTHS:
            if len(pan) >= length:
                found = self._by_prefix.get(pan[:length])
                if found is not None:
                    return found
        return None

    def rows(self) -> list[BinInfo]:
        return sorted(self._by_prefix.values(), key=lambda row: (row.issuer_code, row.prefix))

    def issuers(self) -> dict[str, Issuer]:
        return dict(self._issuers)


def _check_row(row: BinInfo) -> None:
    where = f"BIN row {row.prefix!r}"
    if not (row.prefix.isdigit() and len(row.prefix) in PREFIX_LENGTHS):
        raise ValueError(f"{where}: a prefix is 6 or 8 digits")
    if row.brand not in BRANDS:
        raise ValueError(f"{where}: unknown brand {row.brand!r}")
    if row.card_type not in CARD_TYPES:
        raise ValueError(f"{where}: unknown card type {row.card_type!r}")
    if not MIN_PAN_LENGTH <= row.pan_length <= MAX_PAN_LENGTH:
        raise ValueError(f"{where}: card numbers are 13 to 19 digits")
    if row.pan_length <= len(row.prefix):
        raise ValueError(f"{where}: the card number must be longer than its prefix")
    if not (row.issuer_code and row.issuer_name_en and row.issuer_name_zh):
        raise ValueError(f"{where}: the issuer needs a code and both names")


def parse_csv(text: str) -> BinTable:
    rows = [
        BinInfo(
            prefix=record["prefix"].strip(),
            issuer_code=record["issuer_code"].strip(),
            issuer_name_en=record["issuer_name_en"].strip(),
            issuer_name_zh=record["issuer_name_zh"].strip(),
            brand=record["brand"].strip(),
            card_type=record["card_type"].strip(),
            pan_length=int(record["pan_length"]),
        )
        for record in csv.DictReader(text.splitlines())
    ]
    return BinTable(rows)


@cache
def table() -> BinTable:
    """The shipped table, read once per process."""
    text = resources.files("payhub.data").joinpath("bins.csv").read_text(encoding="utf-8")
    return parse_csv(text)


def lookup(pan: str) -> BinInfo | None:
    """The BIN row of a card number (digits only) by longest prefix, or None."""
    return table().lookup(pan)


def issuers() -> dict[str, Issuer]:
    """Every issuer in the table, by code (also the bank codes bank accounts accept)."""
    return table().issuers()


def get_issuer(code: str) -> Issuer | None:
    return table().issuers().get(code)
