"""camt.053.001.08, bank-to-customer statement: a channel's (or the custody bank's) daily
statement of the money movements it booked, for reconciliation.

A PayHub statement is one account in one currency over a period: opening and closing booked
balances and one entry per movement. A movement of ours maps to an entry as:

- kind → `BkTxCd/Prtry/Cd` (capture, refund, payout, return; issuer PayHub) and the
  direction `CdtDbtInd` (a capture or a payout's return is a credit, a refund or payout a
  debit);
- amount and currency → `Amt` (a decimal with the currency's own number of places);
- when it happened → `BookgDt/DtTm` (UTC), its date → `ValDt/Dt`;
- our request id → `NtryDtls/TxDtls/Refs/EndToEndId` (`NOTPROVIDED` when the channel lost
  it); the channel's reference →
  `AcctSvcrRef`; the payment (or payout) id and the authorisation reference →
  `Refs/Prtry` with types PAYMENT and AUTHORIZATION;
- the channel's fee → `Chrgs/Rcrd` (not included in `Amt`).

Statements can be large (a million entries a day): reading streams the file through
libxml2, validating against the XSD as it goes and keeping memory flat.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO

from lxml import etree

from payhub.channels.base import StatementKind, StatementLine
from payhub.core.currencies import get_currency
from payhub.core.errors import PayHubError
from payhub.iso20022 import parties
from payhub.iso20022.schemas import (
    Builder,
    MessageType,
    Reader,
    invalid_file,
    iterparse,
    scrub,
)
from payhub.iso20022.values import (
    amount_text,
    check_moment,
    check_text,
    datetime_text,
    exponent,
    parse_amount,
    parse_datetime,
)

MESSAGE = MessageType.CAMT_053
ISSUER = "PayHub"  # issuer of our proprietary bank transaction codes
BOOKED = "BOOK"
# ISO 20022's convention for an end-to-end id the sender did not give: a channel that lost
# our request id reports the movement under it.
NOT_PROVIDED = "NOTPROVIDED"


class CreditDebit(StrEnum):
    CREDIT = "CRDT"
    DEBIT = "DBIT"


_KINDS = {k.value: k for k in StatementKind}
_DIRECTION = {
    StatementKind.CAPTURE: CreditDebit.CREDIT,
    StatementKind.REFUND: CreditDebit.DEBIT,
    StatementKind.PAYOUT: CreditDebit.DEBIT,
    StatementKind.RETURN: CreditDebit.CREDIT,
}


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One booked (or pending) movement on the statement."""

    amount: int  # minor units, positive; `credit_debit` gives the direction
    currency: str
    credit_debit: CreditDebit
    booked_at: datetime
    kind: str | None  # a StatementKind value for PayHub movements; a bank's own code otherwise
    end_to_end_id: str | None  # our request id
    channel_ref: str | None  # the account servicer's (channel's) reference
    payment_id: str | None = None
    authorization_ref: str | None = None
    fee: int = 0  # charges for this entry, minor units; negative for a rebate
    status: str = BOOKED

    @property
    def signed_amount(self) -> int:
        return self.amount if self.credit_debit is CreditDebit.CREDIT else -self.amount


@dataclass(frozen=True, slots=True)
class Statement:
    message_id: str
    statement_id: str
    created_at: datetime
    account: str  # the channel id, or the bank account number of a custody statement
    currency: str
    period_start: datetime
    period_end: datetime
    opening_balance: int  # signed minor units: positive is a credit balance
    closing_balance: int
    entries: Sequence[StatementEntry]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))


# ---------------------------------------------------------------------------------------
# StatementLine ↔ statement
# ---------------------------------------------------------------------------------------


def entry_of(line: StatementLine) -> StatementEntry:
    return StatementEntry(
        amount=line.amount,
        currency=line.currency,
        credit_debit=_DIRECTION[line.kind],
        booked_at=line.occurred_at,
        kind=line.kind.value,
        end_to_end_id=line.request_id or NOT_PROVIDED,
        channel_ref=line.channel_ref,
        payment_id=line.payment_id,
        authorization_ref=line.authorization_ref,
        fee=line.fee,
    )


def from_lines(
    channel_id: str,
    period: tuple[datetime, datetime],
    lines: Iterable[StatementLine],
    opening_balance: int,
    *,
    currency: str | None = None,
    created_at: datetime | None = None,
) -> Statement:
    """A channel's statement for `period` from its lines (all of one currency). The closing
    balance is the opening one plus every line's net effect (captures in, refunds and payouts
    out, fees out). The message id is derived from the channel and period, so the same
    statement always carries the same id."""
    start, end = period
    check_moment(start, "period")
    check_moment(end, "period")
    if end < start:
        raise PayHubError(
            "validation_error", param="period", detail="the period ends before it starts"
        )
    entries = [entry_of(line) for line in lines]
    currencies = {e.currency for e in entries} | ({currency} if currency else set())
    if len(currencies) > 1:
        raise PayHubError(
            "validation_error",
            param="lines",
            detail="a statement is in one currency: split the lines by currency",
        )
    if not currencies:
        raise PayHubError(
            "validation_error", param="currency", detail="an empty statement needs its currency"
        )
    (the_currency,) = currencies
    closing = opening_balance + sum(e.signed_amount - e.fee for e in entries)
    digest = hashlib.sha256(
        f"{channel_id}|{datetime_text(start)}|{datetime_text(end)}".encode()
    ).hexdigest()
    ident = f"STMT-{start:%Y%m%d}-{digest[:16]}".upper()
    return Statement(
        message_id=ident,
        statement_id=ident,
        created_at=created_at or end,
        account=channel_id,
        currency=the_currency,
        period_start=start,
        period_end=end,
        opening_balance=opening_balance,
        closing_balance=closing,
        entries=entries,
    )


def to_lines(statement: Statement, channel_id: str | None = None) -> list[StatementLine]:
    """The booked entries as StatementLines of `channel_id` (default: the statement's account).
    Entries still pending are not money movements yet and are left out."""
    owner = channel_id or statement.account
    return [
        line_of(entry, owner, i)
        for i, entry in enumerate(statement.entries)
        if entry.status == BOOKED
    ]


def line_of(entry: StatementEntry, channel_id: str, index: int = 0) -> StatementLine:
    where = f"Ntry {index + 1}"
    kind = _KINDS.get(entry.kind or "")
    if kind is None:
        raise invalid_file(MESSAGE.value, f"{where}: not a PayHub movement (BkTxCd)")
    if entry.credit_debit is not _DIRECTION[kind]:
        raise invalid_file(
            MESSAGE.value, f"{where}: a {kind.value} cannot be a {entry.credit_debit.value}"
        )
    if not entry.end_to_end_id or not entry.channel_ref or not entry.payment_id:
        raise invalid_file(
            MESSAGE.value, f"{where}: EndToEndId, AcctSvcrRef and the PAYMENT reference are needed"
        )
    return StatementLine(
        channel_id=channel_id,
        kind=kind,
        request_id="" if entry.end_to_end_id == NOT_PROVIDED else entry.end_to_end_id,
        channel_ref=entry.channel_ref,
        authorization_ref=entry.authorization_ref,
        payment_id=entry.payment_id,
        amount=entry.amount,
        currency=entry.currency,
        fee=entry.fee,
        occurred_at=entry.booked_at,
    )


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write(statement: Statement) -> bytes:
    """The statement as a camt.053.001.08 file, validated against the official XSD."""
    sink = io.BytesIO()
    write_to(statement, sink)
    return sink.getvalue()


def write_file(statement: Statement, path: Path) -> None:
    """Write a (large) statement to a file; a statement that fails the XSD leaves no file."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w+b") as sink:
            write_to(statement, sink)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_to(statement: Statement, sink: IO[bytes]) -> None:
    """Stream the statement into a seekable binary sink, then validate what was written."""
    _check(statement)
    start = sink.tell()
    b = Builder(MESSAGE)
    with etree.xmlfile(sink, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(b.tag("Document"), nsmap={None: b.ns}), xf.element(b.tag("BkToCstmrStmt")):
            header = b.element("GrpHdr")
            b.sub(header, "MsgId", statement.message_id)
            b.sub(header, "CreDtTm", datetime_text(statement.created_at))
            xf.write(header)
            with xf.element(b.tag("Stmt")):
                for part in _statement_head(b, statement):
                    xf.write(part)
                entry_writer = _EntryWriter(b)
                for entry in statement.entries:
                    xf.write(entry_writer.element(entry))
    sink.seek(start)
    try:
        for event, element in iterparse(sink, MESSAGE, ("Ntry",)):
            if event == "end":
                _release(element)
    except PayHubError as error:
        raise PayHubError(
            "validation_error",
            detail=scrub(f"the {MESSAGE.value} file would be invalid: {error.fields['problem']}"),
        ) from None
    sink.seek(0, io.SEEK_END)


def _statement_head(b: Builder, statement: Statement) -> list[etree._Element]:
    head: list[etree._Element] = []
    ident = b.element("Id")
    ident.text = statement.statement_id
    head.append(ident)
    created = b.element("CreDtTm")
    created.text = datetime_text(statement.created_at)
    head.append(created)
    period = b.element("FrToDt")
    b.sub(period, "FrDtTm", datetime_text(statement.period_start))
    b.sub(period, "ToDtTm", datetime_text(statement.period_end))
    head.append(period)
    holder = b.element("Holder")
    parties.write_account(b, holder, "Acct", statement.account)
    account = holder[0]
    b.sub(account, "Ccy", statement.currency)
    head.append(account)
    for code, amount, moment in (
        ("OPBD", statement.opening_balance, statement.period_start),
        ("CLBD", statement.closing_balance, statement.period_end),
    ):
        balance = b.element("Bal")
        b.path(balance, "Tp", "CdOrPrtry", "Cd", text=code)
        b.sub(balance, "Amt", amount_text(abs(amount), statement.currency), Ccy=statement.currency)
        b.sub(
            balance, "CdtDbtInd", (CreditDebit.CREDIT if amount >= 0 else CreditDebit.DEBIT).value
        )
        b.path(balance, "Dt", "DtTm", text=datetime_text(moment))
        head.append(balance)
    return head


class _EntryWriter:
    """Builds Ntry elements. Entries of one shape (currency, which optional parts they have)
    differ only in their texts, so each shape is built once as a template with a marker in
    every text that varies; an entry is a copy of its template with the texts filled in,
    which is several times faster than building thirty elements one by one."""

    _FIELDS = (
        "amount", "direction", "status", "booked", "value_date", "channel_ref", "kind", "fee",
        "fee_direction", "end_to_end_id", "payment_id", "authorization_ref",
    )  # fmt: skip

    def __init__(self, b: Builder) -> None:
        self.b = b
        self.t = {name: b.tag(name) for name in _ENTRY_TAGS}
        self._templates: dict[tuple[object, ...], tuple[etree._Element, list[tuple[int, int]]]] = {}

    def element(self, entry: StatementEntry) -> etree._Element:
        texts = (
            amount_text(entry.amount, entry.currency),
            entry.credit_debit.value,
            entry.status,
            datetime_text(entry.booked_at),
            entry.booked_at.astimezone(UTC).date().isoformat(),
            entry.channel_ref,
            entry.kind,
            amount_text(abs(entry.fee), entry.currency),
            (CreditDebit.DEBIT if entry.fee > 0 else CreditDebit.CREDIT).value,
            entry.end_to_end_id,
            entry.payment_id,
            entry.authorization_ref,
        )
        shape = (entry.currency, entry.fee != 0, *(text is None for text in texts))
        found = self._templates.get(shape)
        if found is None:
            found = self._templates[shape] = self._template(entry.currency, entry.fee != 0, texts)
        template, slots = found
        ntry = copy.deepcopy(template)
        nodes = list(ntry.iter())
        for node, field in slots:
            nodes[node].text = texts[field]
        return ntry

    def _template(
        self, currency: str, has_fee: bool, texts: tuple[str | None, ...]
    ) -> tuple[etree._Element, list[tuple[int, int]]]:
        markers = tuple(None if text is None else f"@{i}@" for i, text in enumerate(texts))
        template = self._build(currency, has_fee, markers)
        by_marker = {marker: i for i, marker in enumerate(markers) if marker is not None}
        slots = [
            (node, by_marker[element.text])
            for node, element in enumerate(template.iter())
            if element.text in by_marker
        ]
        return template, slots

    def _build(self, currency: str, has_fee: bool, texts: tuple[str | None, ...]) -> etree._Element:
        (amount, direction, status, booked, value_date, channel_ref, kind, fee, fee_direction,
         end_to_end_id, payment_id, authorization_ref) = texts  # fmt: skip
        t, sub = self.t, etree.SubElement
        ntry = etree.Element(t["Ntry"], nsmap={None: self.b.ns})
        sub(ntry, t["Amt"], Ccy=currency).text = amount
        sub(ntry, t["CdtDbtInd"]).text = direction
        sub(sub(ntry, t["Sts"]), t["Cd"]).text = status
        sub(sub(ntry, t["BookgDt"]), t["DtTm"]).text = booked
        sub(sub(ntry, t["ValDt"]), t["Dt"]).text = value_date
        if channel_ref is not None:
            sub(ntry, t["AcctSvcrRef"]).text = channel_ref
        code = sub(ntry, t["BkTxCd"])
        if kind is not None:
            proprietary = sub(code, t["Prtry"])
            sub(proprietary, t["Cd"]).text = kind
            sub(proprietary, t["Issr"]).text = ISSUER
        if has_fee:
            record = sub(sub(ntry, t["Chrgs"]), t["Rcrd"])
            sub(record, t["Amt"], Ccy=currency).text = fee
            sub(record, t["CdtDbtInd"]).text = fee_direction
            sub(record, t["ChrgInclInd"]).text = "false"
        references = (("PAYMENT", payment_id), ("AUTHORIZATION", authorization_ref))
        if end_to_end_id is not None or payment_id is not None or authorization_ref is not None:
            refs = sub(sub(sub(ntry, t["NtryDtls"]), t["TxDtls"]), t["Refs"])
            if end_to_end_id is not None:
                sub(refs, t["EndToEndId"]).text = end_to_end_id
            for reference_type, value in references:
                if value is not None:
                    reference = sub(refs, t["Prtry"])
                    sub(reference, t["Tp"]).text = reference_type
                    sub(reference, t["Ref"]).text = value
        return ntry


_ENTRY_TAGS = (
    "Ntry", "Amt", "CdtDbtInd", "Sts", "Cd", "BookgDt", "DtTm", "ValDt", "Dt", "AcctSvcrRef",
    "BkTxCd", "Prtry", "Issr", "Chrgs", "Rcrd", "ChrgInclInd", "NtryDtls", "TxDtls", "Refs",
    "EndToEndId", "Tp", "Ref",
)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def read(data: bytes) -> Statement:
    """A camt.053.001.08 file as a statement (the whole file validated first)."""
    return _read(io.BytesIO(data))


def read_file(path: Path) -> Statement:
    with path.open("rb") as source:
        return _read(source)


def _read(source: IO[bytes]) -> Statement:
    stream = StatementStream(source)
    entries = list(stream.entries())
    head = stream.head()
    return Statement(
        message_id=head.message_id,
        statement_id=head.statement_id,
        created_at=head.created_at,
        account=head.account,
        currency=head.currency,
        period_start=head.period_start,
        period_end=head.period_end,
        opening_balance=head.opening_balance,
        closing_balance=head.closing_balance,
        entries=entries,
    )


def read_lines(source: IO[bytes], channel_id: str | None = None) -> list[StatementLine]:
    """Every booked entry of a statement file as a StatementLine, returned only once the whole
    file has been read and validated (the entries themselves are never all held)."""
    return list(iter_lines(source, channel_id))


def iter_lines(source: IO[bytes], channel_id: str | None = None) -> Iterator[StatementLine]:
    """Stream a statement's booked entries as StatementLines without holding the file or the
    entries in memory. The XSD check runs as the file is read: a problem late in the file
    raises `invalid_file` after earlier lines were yielded, so collect before acting."""
    stream = StatementStream(source)
    for index, entry in enumerate(stream.entries()):
        if entry.status == BOOKED:
            yield line_of(entry, channel_id or stream.head().account, index)


@dataclass(slots=True)
class _Head:
    message_id: str = ""
    created_at: datetime | None = None
    statement_id: str = ""
    account: str = ""
    currency: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None
    opening_balance: int | None = None
    closing_balance: int | None = None


@dataclass(frozen=True, slots=True)
class StatementHead:
    message_id: str
    created_at: datetime
    statement_id: str
    account: str
    currency: str
    period_start: datetime
    period_end: datetime
    opening_balance: int
    closing_balance: int


class StatementStream:
    """One pass over a statement file: `entries()` yields the entries one at a time, and
    `head()` (the group header, account, period and balances) is complete from the first
    entry on. Memory stays flat whatever the file's size."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.r = Reader(MESSAGE)
        self._head = _Head()
        self._done: StatementHead | None = None
        self._places = 0
        p = self.r.prefix
        self.tags = {name: p + name for name in _READ_TAGS}

    def head(self) -> StatementHead:
        if self._done is None:
            self._done = self._finish_head()
        return self._done

    def entries(self) -> Iterator[StatementEntry]:
        t = self.tags
        statements = 0
        index = 0
        for event, element in iterparse(self.source, MESSAGE, _STREAM_TAGS):
            tag = element.tag
            if event == "start":
                if tag == t["Stmt"]:
                    statements += 1
                    if statements > 1:
                        raise invalid_file(
                            MESSAGE.value, "more than one Stmt; PayHub reads one per file"
                        )
                continue
            if tag == t["Ntry"]:
                if index == 0:
                    self.head()  # the head is complete before the first entry
                yield self._entry(element, index)
                index += 1
                _release(element)
            elif tag == t["GrpHdr"]:
                self._group_header(element)
            elif tag == t["Acct"]:
                self._account(element)
            elif tag == t["Bal"]:
                self._balance(element)
        if statements == 0:
            raise invalid_file(MESSAGE.value, "the file holds no Stmt")
        self.head()  # a statement without entries still needs a complete head

    def _group_header(self, header: etree._Element) -> None:
        self._head.message_id = self.r.text(header, "MsgId") or ""
        self._head.created_at = self._moment(self.r.text(header, "CreDtTm"), "GrpHdr/CreDtTm")

    def _account(self, account: etree._Element) -> None:
        # Stmt/Id, CreDtTm and FrToDt all come before Acct in the schema's sequence.
        statement = account.getparent()
        assert statement is not None
        r, h = self.r, self._head
        h.statement_id = r.text(statement, "Id") or ""
        h.account = parties.read_account(r, statement, "Acct") or ""
        h.currency = r.text(account, "Ccy") or ""
        if not h.currency:
            raise invalid_file(MESSAGE.value, "Stmt/Acct/Ccy is missing")
        h.period_start = self._moment(r.text(statement, "FrToDt/FrDtTm"), "Stmt/FrToDt/FrDtTm")
        h.period_end = self._moment(r.text(statement, "FrToDt/ToDtTm"), "Stmt/FrToDt/ToDtTm")

    def _balance(self, balance: etree._Element) -> None:
        code = self.r.text(balance, "Tp/CdOrPrtry/Cd")
        if code not in ("OPBD", "CLBD"):
            return  # interim and available balances are not part of a PayHub statement
        amount_element = self.r.find(balance, "Amt")
        assert amount_element is not None  # the XSD requires it
        amount = self._amount(amount_element, f"Bal {code}")
        if self.r.text(balance, "CdtDbtInd") == CreditDebit.DEBIT.value:
            amount = -amount
        if code == "OPBD":
            self._head.opening_balance = amount
        else:
            self._head.closing_balance = amount

    def _finish_head(self) -> StatementHead:
        h = self._head
        for value, what in (
            (h.created_at, "GrpHdr/CreDtTm"),
            (h.period_start, "Stmt/FrToDt"),
            (h.period_end, "Stmt/FrToDt"),
            (h.opening_balance, "the opening booked balance (OPBD)"),
            (h.closing_balance, "the closing booked balance (CLBD)"),
        ):
            if value is None:
                raise invalid_file(MESSAGE.value, f"{what} is missing")
        assert h.created_at and h.period_start and h.period_end
        assert h.opening_balance is not None and h.closing_balance is not None
        self._places = exponent(h.currency) if get_currency(h.currency) else 0
        return StatementHead(
            message_id=h.message_id,
            created_at=h.created_at,
            statement_id=h.statement_id,
            account=h.account,
            currency=h.currency,
            period_start=h.period_start,
            period_end=h.period_end,
            opening_balance=h.opening_balance,
            closing_balance=h.closing_balance,
        )

    def _entry(self, ntry: etree._Element, index: int) -> StatementEntry:
        # The hot loop of a million-entry statement: plain comparisons on the children,
        # the nested parts only when present, no per-entry lookups of the currency.
        head = self.head()
        amount = fee = 0
        currency = direction = status = booked = channel_ref = kind = None
        end_to_end_id = payment_id = authorization_ref = None
        for child in ntry:
            tag = child.tag
            if tag == _AMT:
                currency = child.get("Ccy")
                amount = self._fast_amount(child, currency, head, index)
            elif tag == _CDT_DBT:
                direction = _CREDIT_DEBIT.get(child.text or "")
            elif tag == _STS:
                status = child[0].text
            elif tag == _BOOKG_DT:
                booked = self._booking(child[0], index)
            elif tag == _ACCT_SVCR_REF:
                channel_ref = child.text
            elif tag == _BK_TX_CD:
                kind = self._kind(child)
            elif tag == _CHRGS:
                fee = self._charges(child, index)
            elif tag == _NTRY_DTLS:
                end_to_end_id, payment_id, authorization_ref = self._references(child, index)
        if booked is None:
            raise invalid_file(MESSAGE.value, f"Ntry {index + 1}: BookgDt is missing")
        if currency != head.currency:
            raise invalid_file(
                MESSAGE.value, f"Ntry {index + 1}: its currency is not the account's"
            )
        assert direction is not None  # the XSD allows CRDT and DBIT only
        return StatementEntry(
            amount,
            currency,
            direction,
            booked,
            kind,
            end_to_end_id,
            channel_ref,
            payment_id,
            authorization_ref,
            fee,
            status or BOOKED,
        )

    def _fast_amount(
        self, element: etree._Element, currency: str | None, head: StatementHead, index: int
    ) -> int:
        """Digits and at most the currency's places: exact integer arithmetic, no Decimal."""
        text = element.text or ""
        if currency == head.currency:
            whole, dot, fraction = text.partition(".")
            places = self._places
            if whole.isdigit() and (not dot or (fraction.isdigit() and len(fraction) <= places)):
                return int(whole + fraction.ljust(places, "0")) if places else int(whole)
        return self._amount(element, f"Ntry {index + 1}")

    def _amount(self, element: etree._Element, where: str) -> int:
        currency = element.get("Ccy") or ""
        try:
            exponent(currency)
        except PayHubError:
            raise invalid_file(
                MESSAGE.value, f"{where}: {currency[:3]} is not a money currency"
            ) from None
        amount = parse_amount(element.text or "", currency)
        if amount is None:
            raise invalid_file(
                MESSAGE.value,
                f"{where}: not an amount in {currency} (a decimal, at most its minor unit)",
            )
        return amount

    def _booking(self, choice: etree._Element, index: int) -> datetime:
        where = f"Ntry {index + 1}"
        if choice.tag == _DT_TM:
            try:
                moment = datetime.fromisoformat(choice.text or "")
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return (
                    moment
                    if moment.utcoffset() == _ZERO and moment.tzinfo is UTC
                    else moment.astimezone(UTC)
                )
            return self._moment(choice.text, f"{where}: BookgDt")
        # A date alone: the entry was booked that day; take its start in UTC.
        moment = parse_datetime(f"{choice.text}T00:00:00+00:00")
        if moment is None:
            raise invalid_file(MESSAGE.value, f"{where}: BookgDt is not a date")
        return moment

    def _kind(self, code: etree._Element) -> str | None:
        t = self.tags
        for part in code:
            if part.tag == t["Prtry"]:
                issuer = None
                value = None
                for item in part:
                    if item.tag == t["Cd"]:
                        value = item.text
                    elif item.tag == t["Issr"]:
                        issuer = item.text
                return value if issuer == ISSUER else f"{issuer}:{value}" if issuer else value
        return None

    def _charges(self, charges: etree._Element, index: int) -> int:
        where = f"Ntry {index + 1}"
        t = self.tags
        total = 0
        for record in charges:
            if record.tag != t["Rcrd"]:
                continue  # TtlChrgsAndTaxAmt repeats the records' sum
            amount = 0
            sign = 1
            for item in record:
                if item.tag == t["Amt"]:
                    amount = self._amount(item, f"{where}: Chrgs")
                elif item.tag == t["CdtDbtInd"] and item.text == CreditDebit.CREDIT.value:
                    sign = -1
            total += sign * amount
        return total

    def _references(
        self, details: etree._Element, index: int
    ) -> tuple[str | None, str | None, str | None]:
        end_to_end_id = payment_id = authorization_ref = None
        transactions = 0
        for tx in details:
            if tx.tag != _TX_DTLS:
                continue
            transactions += 1
            if transactions > 1:
                raise invalid_file(
                    MESSAGE.value, f"Ntry {index + 1}: a batch entry (several TxDtls)"
                )
            for refs in tx:
                if refs.tag != _REFS:
                    continue
                for ref in refs:
                    if ref.tag == _END_TO_END_ID:
                        end_to_end_id = ref.text
                    elif ref.tag == _PRTRY:
                        kind, value = ref[0].text, ref[1].text
                        if kind == "PAYMENT":
                            payment_id = value
                        elif kind == "AUTHORIZATION":
                            authorization_ref = value
        return end_to_end_id, payment_id, authorization_ref

    def _moment(self, text: str | None, where: str) -> datetime:
        moment = parse_datetime(text or "")
        if moment is None:
            raise invalid_file(MESSAGE.value, f"{where} is not a date-time with a UTC offset")
        return moment


_READ_TAGS = (
    "Stmt", "Ntry", "GrpHdr", "Acct", "Bal", "Amt", "CdtDbtInd", "Sts", "BookgDt", "DtTm",
    "AcctSvcrRef", "BkTxCd", "Prtry", "Cd", "Issr", "Chrgs", "Rcrd", "NtryDtls", "TxDtls",
    "Refs", "EndToEndId",
)  # fmt: skip
_STREAM_TAGS = ("Stmt", "Ntry", "GrpHdr", "Acct", "Bal")
_Q = f"{{{MESSAGE.namespace}}}"
_AMT, _CDT_DBT, _STS, _BOOKG_DT, _DT_TM = (
    _Q + n for n in ("Amt", "CdtDbtInd", "Sts", "BookgDt", "DtTm")
)
_ACCT_SVCR_REF, _BK_TX_CD, _CHRGS, _NTRY_DTLS = (
    _Q + n for n in ("AcctSvcrRef", "BkTxCd", "Chrgs", "NtryDtls")
)
_TX_DTLS, _REFS, _END_TO_END_ID, _PRTRY = (
    _Q + n for n in ("TxDtls", "Refs", "EndToEndId", "Prtry")
)
_CREDIT_DEBIT = {c.value: c for c in CreditDebit}
_ZERO = timedelta(0)


def _release(element: etree._Element) -> None:
    """Free a handled element and everything before it, so memory stays flat."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _check(statement: Statement) -> None:
    check_text(statement.message_id, 35, "message_id")
    check_text(statement.statement_id, 35, "statement_id")
    check_moment(statement.created_at, "created_at")
    check_moment(statement.period_start, "period_start")
    check_moment(statement.period_end, "period_end")
    check_text(statement.account, 34, "account")
    exponent(statement.currency)
    for i, entry in enumerate(statement.entries):
        if entry.currency != statement.currency:
            raise PayHubError(
                "validation_error",
                param=f"entries[{i}].currency",
                detail="not the statement's currency",
            )
        check_moment(entry.booked_at, f"entries[{i}].booked_at")
        if isinstance(entry.amount, bool) or not isinstance(entry.amount, int) or entry.amount < 0:
            raise PayHubError(
                "validation_error", param=f"entries[{i}].amount", detail="must be ≥ 0"
            )


__all__ = [
    "CreditDebit",
    "Statement",
    "StatementEntry",
    "StatementHead",
    "StatementStream",
    "from_lines",
    "iter_lines",
    "line_of",
    "read",
    "read_file",
    "read_lines",
    "to_lines",
    "write",
    "write_file",
    "write_to",
]
