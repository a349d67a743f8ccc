"""Report files: CSV and XML read back to the rows they were written from, XML built as a
tree (special characters escaped), and no card number in either."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.risk.reports.files import CaseHeader, Header, parse_csv, parse_xml, to_csv, to_xml
from payhub.risk.reports.rows import ReportRow, mask_name, mask_phone
from tests.risk.aml_helpers import PAN

HEADER = Header(
    report_id="rpt_1",
    kind="large_value",
    institution_code="PAYHUB",
    institution_name="PayHub 支付",
    report_date="2026-12-01",
    generated_at="2026-12-02T00:00:00Z",
)


def row(**fields: object) -> ReportRow:
    values: dict[str, object] = {
        "customer_id": "cus_1",
        "customer_type": "personal",
        "customer_name": "王**",
        "customer_phone": "+86138****5678",
        "category": "personal_domestic",
        "direction": "out",
        "transaction_id": "pay_1",
        "movement_id": "att_1",
        "time": "2026-12-01T02:00:00Z",
        "amount": 50_000_000,
        "currency": "CNY",
        "counterparty_type": "merchant",
        "counterparty_id": "mer_1",
        "counterparty_name": 'Noodles & <Sons> "Ltd"',
        "day_total": 50_000_000,
        **fields,
    }
    return ReportRow(**values)  # type: ignore[arg-type]


def test_both_files_read_back_to_the_same_rows() -> None:
    rows = [row(), row(transaction_id="re_2", direction="in", day_total=None, customer_name="")]
    assert parse_csv(to_csv(HEADER, rows)) == rows
    header, parsed = parse_xml(to_xml(HEADER, rows))
    assert parsed == rows and header == HEADER
    assert b"&lt;Sons&gt;" in to_xml(HEADER, rows)  # escaped by the tree, not by hand
    # Written the same way every time: a checksum identifies a file.
    assert to_xml(HEADER, rows) == to_xml(HEADER, list(rows))


def test_a_suspicious_report_carries_its_case() -> None:
    case = CaseHeader("case_1", "suspicious_reported", ["fan_in", "cycle"], ["alr_1"], "Why: …")
    header = Header(
        report_id="rpt_2",
        kind="suspicious",
        institution_code="PAYHUB",
        institution_name="PayHub",
        report_date="2026-12-01",
        generated_at="2026-12-01T09:00:00Z",
        case=case,
    )
    parsed_header, rows = parse_xml(to_xml(header, [row(day_total=None)]))
    assert parsed_header == header and rows == [row(day_total=None)]


def test_no_card_number_reaches_a_file() -> None:
    careless = row(customer_name=f"card {PAN}", counterparty_name=PAN).cleaned()
    for data in (to_csv(HEADER, [careless]), to_xml(HEADER, [careless])):
        assert PAN.encode() not in data
        assert f"{PAN[:6]}{'*' * (len(PAN) - 10)}{PAN[-4:]}".encode() in data


def test_identities_are_masked() -> None:
    assert mask_name("王小明") == "王**"
    assert mask_name("Jane Q Doe") == "J*** Q D**"
    assert mask_name(None) == ""
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert mask_phone("12345") == "***45"


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=100, deadline=None)
@given(name=_text, party=_text, amount=st.integers(1, 10**15), total=st.none() | st.integers(1))
def test_any_row_reads_back(name: str, party: str, amount: int, total: int | None) -> None:
    rows = [
        row(
            customer_name=name.strip(),
            counterparty_name=party.strip(),
            amount=amount,
            day_total=total,
        )
    ]
    assert parse_csv(to_csv(HEADER, rows)) == rows
    assert parse_xml(to_xml(HEADER, rows))[1] == rows
