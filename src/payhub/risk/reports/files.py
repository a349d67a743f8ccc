"""The report files, CSV and XML, and reading them back.

Both are written from the same rows, byte for byte the same every time (so a file's
checksum in the register identifies it). The XML layout, modelled on the PBoC report's
fields (documented in docs/aml-cases.md):

    <AmlReport kind="large_value|suspicious" version="1">
      <Header>
        <ReportId/> <Institution code="…">name</Institution> <ReportDate/> <GeneratedAt/>
        <RowCount/>
        <Case id="…"> (suspicious reports only)
          <Disposition/> <Typologies><Typology/>…</Typologies> <Alerts><Alert/>…</Alerts>
          <Narrative/>
        </Case>
      </Header>
      <Transactions>
        <Transaction>
          <Customer id="…" type="personal|non_personal"><Name/><Phone/></Customer>
          <TransactionId/> <MovementId/> <Time/> <Amount currency="CNY">minor units</Amount>
          <Direction>in|out</Direction>
          <Counterparty id="…" type="merchant|bank_account"><Name/></Counterparty>
          <Category/> <DayTotal/> (large-value reports only)
        </Transaction>
      </Transactions>
    </AmlReport>
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from payhub.risk.reports.rows import COLUMNS, ReportRow

_PREFIX = ("report_id", "institution_code", "report_date")


@dataclass(frozen=True, slots=True)
class CaseHeader:
    id: str
    disposition: str
    typologies: list[str]
    alerts: list[str]
    narrative: str


@dataclass(frozen=True, slots=True)
class Header:
    report_id: str
    kind: str  # large_value | suspicious
    institution_code: str
    institution_name: str
    report_date: str  # YYYY-MM-DD, China Standard Time
    generated_at: str  # RFC 3339, UTC
    case: CaseHeader | None = None


def to_csv(header: Header, rows: list[ReportRow]) -> bytes:
    """One line per transaction, each naming its report, institution and date."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*_PREFIX, *COLUMNS])
    for row in rows:
        values = [getattr(row, c) for c in COLUMNS]
        writer.writerow(
            [
                header.report_id,
                header.institution_code,
                header.report_date,
                *("" if v is None else str(v) for v in values),
            ]
        )
    return out.getvalue().encode("utf-8")


def parse_csv(data: bytes) -> list[ReportRow]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    if tuple(reader.fieldnames or ()) != (*_PREFIX, *COLUMNS):
        raise ValueError("not a PayHub AML report CSV")
    return [_row_of({c: line[c] for c in COLUMNS}) for line in reader]


def _row_of(values: dict[str, str]) -> ReportRow:
    total = values["day_total"]
    return ReportRow(
        **{c: values[c] for c in COLUMNS if c not in ("amount", "day_total")},
        amount=int(values["amount"]),
        day_total=int(total) if total else None,
    )


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def to_xml(header: Header, rows: list[ReportRow]) -> bytes:
    root = ET.Element("AmlReport", {"kind": header.kind, "version": "1"})
    head = ET.SubElement(root, "Header")
    _text(head, "ReportId", header.report_id)
    _text(head, "Institution", header.institution_name, code=header.institution_code)
    _text(head, "ReportDate", header.report_date)
    _text(head, "GeneratedAt", header.generated_at)
    _text(head, "RowCount", str(len(rows)))
    if header.case is not None:
        case = ET.SubElement(head, "Case", {"id": header.case.id})
        _text(case, "Disposition", header.case.disposition)
        typologies = ET.SubElement(case, "Typologies")
        for name in header.case.typologies:
            _text(typologies, "Typology", name)
        alerts = ET.SubElement(case, "Alerts")
        for alert in header.case.alerts:
            _text(alerts, "Alert", alert)
        _text(case, "Narrative", header.case.narrative)
    body = ET.SubElement(root, "Transactions")
    for row in rows:
        item = ET.SubElement(body, "Transaction")
        customer = ET.SubElement(
            item, "Customer", {"id": row.customer_id, "type": row.customer_type}
        )
        _text(customer, "Name", row.customer_name)
        _text(customer, "Phone", row.customer_phone)
        _text(item, "TransactionId", row.transaction_id)
        _text(item, "MovementId", row.movement_id)
        _text(item, "Time", row.time)
        _text(item, "Amount", str(row.amount), currency=row.currency)
        _text(item, "Direction", row.direction)
        party = ET.SubElement(
            item, "Counterparty", {"id": row.counterparty_id, "type": row.counterparty_type}
        )
        _text(party, "Name", row.counterparty_name)
        _text(item, "Category", row.category)
        if row.day_total is not None:
            _text(item, "DayTotal", str(row.day_total))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _req(parent: ET.Element, path: str) -> ET.Element:
    found = parent.find(path)
    if found is None:
        raise ValueError(f"missing {path}")
    return found


def _str(parent: ET.Element, path: str) -> str:
    return _req(parent, path).text or ""


def parse_xml(data: bytes) -> tuple[Header, list[ReportRow]]:
    root = ET.fromstring(data)  # noqa: S314 - our own files, read back in tests and tools
    if root.tag != "AmlReport":
        raise ValueError("not a PayHub AML report")
    head = _req(root, "Header")
    institution = _req(head, "Institution")
    case_element = head.find("Case")
    case = None
    if case_element is not None:
        case = CaseHeader(
            id=case_element.get("id", ""),
            disposition=_str(case_element, "Disposition"),
            typologies=[t.text or "" for t in case_element.iterfind("Typologies/Typology")],
            alerts=[a.text or "" for a in case_element.iterfind("Alerts/Alert")],
            narrative=_str(case_element, "Narrative"),
        )
    header = Header(
        report_id=_str(head, "ReportId"),
        kind=root.get("kind", ""),
        institution_code=institution.get("code", ""),
        institution_name=institution.text or "",
        report_date=_str(head, "ReportDate"),
        generated_at=_str(head, "GeneratedAt"),
        case=case,
    )
    rows = []
    for item in root.iterfind("Transactions/Transaction"):
        customer = _req(item, "Customer")
        party = _req(item, "Counterparty")
        amount = _req(item, "Amount")
        total = item.find("DayTotal")
        rows.append(
            ReportRow(
                customer_id=customer.get("id", ""),
                customer_type=customer.get("type", ""),
                customer_name=_str(customer, "Name"),
                customer_phone=_str(customer, "Phone"),
                category=_str(item, "Category"),
                direction=_str(item, "Direction"),
                transaction_id=_str(item, "TransactionId"),
                movement_id=_str(item, "MovementId"),
                time=_str(item, "Time"),
                amount=int(amount.text or "0"),
                currency=amount.get("currency", ""),
                counterparty_type=party.get("type", ""),
                counterparty_id=party.get("id", ""),
                counterparty_name=_str(party, "Name"),
                day_total=int(total.text or "0") if total is not None else None,
            )
        )
    if len(rows) != int(_str(head, "RowCount")):
        raise ValueError("row count does not match")
    return header, rows
