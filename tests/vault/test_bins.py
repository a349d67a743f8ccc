"""The shipped BIN table and longest-prefix lookup."""

from __future__ import annotations

import re

import pytest

from payhub.vault import bins
from payhub.vault.bins import BinInfo, BinTable, parse_csv

BIG_ISSUERS = {
    "ICBC", "CCB", "ABC", "BOC", "BOCOM", "CMB", "CITIC", "CEB",
    "CMBC", "PAB", "SPDB", "CIB", "HXB", "PSBC", "GDB",
}  # fmt: skip


def _row(prefix: str, issuer: str = "X", card_type: str = "debit", length: int = 16) -> BinInfo:
    return BinInfo(prefix, issuer, f"{issuer} Bank", f"{issuer}银行", "unionpay", card_type, length)


def test_the_table_has_the_partner_the_big_banks_and_small_ones() -> None:
    issuers = bins.issuers()
    assert "PARTNER" in issuers
    assert set(issuers) >= BIG_ISSUERS
    small = set(issuers) - BIG_ISSUERS - {"PARTNER"}
    assert len(small) >= 2
    assert "CITYBANK7" in small  # named by the simulator's scenarios
    assert issuers["ICBC"].name_zh == "中国工商银行"
    for issuer in issuers.values():
        assert re.search(r"[\u4e00-\u9fff]", issuer.name_zh), issuer
        assert issuer.name_en.isascii(), issuer


def test_every_issuer_has_debit_and_the_big_ones_credit_too() -> None:
    kinds: dict[str, set[str]] = {}
    for row in bins.table().rows():
        kinds.setdefault(row.issuer_code, set()).add(row.card_type)
    assert all("debit" in found for found in kinds.values()), kinds
    for code in [*BIG_ISSUERS, "PARTNER"]:
        assert kinds[code] == {"debit", "credit"}, code


def test_rows_agree_with_the_card_schemes_number_ranges() -> None:
    for row in bins.table().rows():
        p, n = row.prefix, row.pan_length
        if row.brand == "visa":
            assert p.startswith("4") and n in (13, 16, 17, 18, 19), row
        elif row.brand == "mastercard":
            assert 51 <= int(p[:2]) <= 55 or 2221 <= int(p[:4]) <= 2720, row
            assert n == 16, row
        elif row.brand == "amex":
            assert p[:2] in ("34", "37") and n == 15, row
        elif row.brand == "jcb":
            assert 3528 <= int(p[:4]) <= 3589 and 16 <= n <= 19, row
        else:
            assert p.startswith(("62", "60", "9")) and 16 <= n <= 19, row


def test_nested_prefixes_only_refine_the_same_issuer() -> None:
    """The partner's invented ranges collide with no other issuer's listed range."""
    rows = bins.table().rows()
    for outer in rows:
        for inner in rows:
            if inner is not outer and inner.prefix.startswith(outer.prefix):
                assert inner.issuer_code == outer.issuer_code, (outer, inner)


def test_lookup_takes_the_longest_prefix() -> None:
    table = BinTable([_row("623208", "P", "debit", 19), _row("62320899", "P", "credit", 16)])
    assert table.lookup("6232081234567890123") == table.lookup("623208") is not None
    found = table.lookup("6232089912345678")
    assert found is not None and found.card_type == "credit"
    assert table.lookup("6232090000000000") is None
    assert table.lookup("62320") is None
    assert table.lookup("") is None


def test_lookup_in_the_shipped_table() -> None:
    found = bins.lookup("6222020000000000000")
    assert found is not None
    assert (found.issuer_code, found.card_type, found.brand) == ("ICBC", "debit", "unionpay")
    partner_credit = bins.lookup("6232089900000000")
    assert partner_credit is not None
    assert (partner_credit.issuer_code, partner_credit.card_type) == ("PARTNER", "credit")
    partner_debit = bins.lookup("6232080000000000000")
    assert partner_debit is not None and partner_debit.card_type == "debit"
    assert bins.lookup("1234567890123") is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row("12345")], "6 or 8 digits"),
        ([_row("1234567")], "6 or 8 digits"),
        ([_row("12345a")], "6 or 8 digits"),
        ([_row("123456"), _row("123456", "Y")], "twice"),
        ([_row("123456", length=12)], "13 to 19"),
        ([_row("123456", length=20)], "13 to 19"),
        ([BinInfo("123456", "X", "X Bank", "X银行", "diners", "debit", 16)], "brand"),
        ([BinInfo("123456", "X", "X Bank", "X银行", "visa", "prepaid", 16)], "card type"),
        ([_row("123456"), BinInfo("654321", "X", "Other", "其他", "visa", "debit", 16)], "names"),
    ],
)
def test_a_malformed_table_is_refused(rows: list[BinInfo], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BinTable(rows)


def test_the_csv_parser_reads_the_shipped_columns() -> None:
    table = parse_csv(
        "prefix,issuer_code,issuer_name_en,issuer_name_zh,brand,card_type,pan_length\n"
        "999999,T,Test Bank,测试银行,unionpay,credit,16\n"
    )
    found = table.lookup("9999990000000000")
    assert found == BinInfo("999999", "T", "Test Bank", "测试银行", "unionpay", "credit", 16)
