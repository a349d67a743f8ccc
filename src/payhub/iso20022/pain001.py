"""pain.001.001.09, customer credit transfer initiation: the file a payer gives its bank to
pay many creditors at once (a split batch's payouts, for one).

One file holds one batch: a group header (message id, count, control sum), one payment
information block for the debtor's account, and one credit transfer per creditor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from payhub.core.currencies import get_currency
from payhub.core.errors import PayHubError
from payhub.core.money import check_amount
from payhub.iso20022 import parties
from payhub.iso20022.schemas import Builder, MessageType, Reader, invalid_file, parse, serialize
from payhub.iso20022.values import (
    amount_text,
    check_moment,
    check_text,
    datetime_text,
    exponent,
    parse_amount,
    parse_date,
    parse_datetime,
    sum_text,
)

MESSAGE = MessageType.PAIN_001


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    end_to_end_id: str  # our id for the transfer (the payout id); the bank reports on it
    amount: int  # minor units, positive
    currency: str
    creditor_name: str
    creditor_account: str  # an IBAN, or the bank's account number
    creditor_bank_code: str | None = None  # BIC, or a clearing code such as a CNAPS code
    remittance_info: str | None = None
    # Our request id for the transfer: the same id its rail call carries, so a bank that
    # got the transfer both ways recognises it and acts once.
    instruction_id: str | None = None
    local_instrument: str | None = None  # the rail the transfer goes by (e.g. ibps, hvps)
    creditor_id: str | None = None  # the creditor's id with us (the receiving merchant)


@dataclass(frozen=True, slots=True)
class PaymentBatch:
    message_id: str
    created_at: datetime
    debtor_name: str
    debtor_account: str
    debtor_bank_code: str
    requested_execution_date: date
    transfers: Sequence[CreditTransfer]

    def __post_init__(self) -> None:
        # A tuple, so that batches compare equal however the transfers were passed in.
        object.__setattr__(self, "transfers", tuple(self.transfers))

    def control_sum(self) -> str:
        return sum_text([(t.amount, t.currency) for t in self.transfers])


def write(batch: PaymentBatch) -> bytes:
    """The batch as a pain.001.001.09 file, validated against the official XSD."""
    _check(batch)
    b = Builder(MESSAGE)
    root = b.root()
    initiation = b.sub(root, "CstmrCdtTrfInitn")
    count = str(len(batch.transfers))
    control_sum = batch.control_sum()

    header = b.sub(initiation, "GrpHdr")
    b.sub(header, "MsgId", batch.message_id)
    b.sub(header, "CreDtTm", datetime_text(batch.created_at))
    b.sub(header, "NbOfTxs", count)
    b.sub(header, "CtrlSum", control_sum)
    b.path(header, "InitgPty", "Nm", text=batch.debtor_name)

    info = b.sub(initiation, "PmtInf")
    b.sub(info, "PmtInfId", batch.message_id)
    b.sub(info, "PmtMtd", "TRF")
    b.sub(info, "NbOfTxs", count)
    b.sub(info, "CtrlSum", control_sum)
    b.path(info, "ReqdExctnDt", "Dt", text=batch.requested_execution_date.isoformat())
    b.path(info, "Dbtr", "Nm", text=batch.debtor_name)
    parties.write_account(b, info, "DbtrAcct", batch.debtor_account)
    parties.write_bank(b, info, "DbtrAgt", batch.debtor_bank_code)

    for transfer in batch.transfers:
        tx = b.sub(info, "CdtTrfTxInf")
        payment_id = b.sub(tx, "PmtId")
        if transfer.instruction_id is not None:
            b.sub(payment_id, "InstrId", transfer.instruction_id)
        b.sub(payment_id, "EndToEndId", transfer.end_to_end_id)
        if transfer.local_instrument is not None:
            b.path(tx, "PmtTpInf", "LclInstrm", "Prtry", text=transfer.local_instrument)
        amount = b.path(tx, "Amt", "InstdAmt", text=amount_text(transfer.amount, transfer.currency))
        amount.set("Ccy", transfer.currency)
        if transfer.creditor_bank_code is not None:
            parties.write_bank(b, tx, "CdtrAgt", transfer.creditor_bank_code)
        creditor = b.sub(tx, "Cdtr")
        b.sub(creditor, "Nm", transfer.creditor_name)
        if transfer.creditor_id is not None:
            b.path(creditor, "Id", "OrgId", "Othr", "Id", text=transfer.creditor_id)
        parties.write_account(b, tx, "CdtrAcct", transfer.creditor_account)
        if transfer.remittance_info is not None:
            b.path(tx, "RmtInf", "Ustrd", text=transfer.remittance_info)
    return serialize(root, MESSAGE)


def read(data: bytes) -> PaymentBatch:
    """A pain.001.001.09 file as a batch. The file must validate against the XSD, hold exactly
    one payment information block of plain credit transfers in instructed amounts, and its
    counts and control sums must agree with its transfers."""
    root = parse(data, MESSAGE)
    r = Reader(MESSAGE)
    # The XSD guarantees both elements: a file without them never gets here.
    initiation = root[0]
    header = initiation[0]
    blocks = r.findall(initiation, "PmtInf")
    if len(blocks) != 1:
        raise invalid_file(
            MESSAGE.value, f"{len(blocks)} PmtInf blocks; PayHub reads files with one"
        )
    info = blocks[0]
    method = r.text(info, "PmtMtd")
    if method != "TRF":
        raise invalid_file(
            MESSAGE.value, f"PmtMtd is {method}; PayHub reads credit transfers (TRF)"
        )

    created_at = parse_datetime(_need(r.text(header, "CreDtTm"), "GrpHdr/CreDtTm"))
    if created_at is None:
        raise invalid_file(MESSAGE.value, "GrpHdr/CreDtTm has no UTC offset")
    execution = r.text(info, "ReqdExctnDt/Dt")
    execution_date = parse_date(execution) if execution else None
    if execution_date is None:
        raise invalid_file(MESSAGE.value, "PmtInf/ReqdExctnDt must be a date (Dt)")

    transfers = [_read_transfer(r, tx, i) for i, tx in enumerate(r.findall(info, "CdtTrfTxInf"))]
    batch = PaymentBatch(
        message_id=_need(r.text(header, "MsgId"), "GrpHdr/MsgId"),
        created_at=created_at,
        debtor_name=_need(r.text(info, "Dbtr/Nm"), "PmtInf/Dbtr/Nm"),
        debtor_account=_need(parties.read_account(r, info, "DbtrAcct"), "PmtInf/DbtrAcct"),
        debtor_bank_code=_need(
            parties.read_bank(r, info, "DbtrAgt"), "PmtInf/DbtrAgt BIC or member id"
        ),
        requested_execution_date=execution_date,
        transfers=transfers,
    )
    _check_totals(r, header, "GrpHdr", batch)
    _check_totals(r, info, "PmtInf", batch)
    if len({t.end_to_end_id for t in transfers}) != len(transfers):
        raise invalid_file(MESSAGE.value, "two transfers share an EndToEndId")
    return batch


def _read_transfer(r: Reader, tx: etree._Element, index: int) -> CreditTransfer:
    where = f"CdtTrfTxInf {index + 1}"
    instructed = r.find(tx, "Amt/InstdAmt")
    if instructed is None:
        raise invalid_file(MESSAGE.value, f"{where}: only instructed amounts (InstdAmt) are read")
    currency = instructed.get("Ccy", "")
    if get_currency(currency) is None:
        raise invalid_file(MESSAGE.value, f"{where}: {currency[:3]} is not a money currency")
    amount = parse_amount(instructed.text or "", currency)
    if amount is None or amount <= 0:
        raise invalid_file(
            MESSAGE.value,
            f"{where}: the amount is not a positive amount in {currency}'s minor units",
        )
    return CreditTransfer(
        end_to_end_id=_need(r.text(tx, "PmtId/EndToEndId"), f"{where}: EndToEndId"),
        amount=amount,
        currency=currency,
        creditor_name=_need(r.text(tx, "Cdtr/Nm"), f"{where}: Cdtr/Nm"),
        creditor_account=_need(parties.read_account(r, tx, "CdtrAcct"), f"{where}: CdtrAcct"),
        creditor_bank_code=parties.read_bank(r, tx, "CdtrAgt"),
        remittance_info=r.text(tx, "RmtInf/Ustrd"),
        instruction_id=r.text(tx, "PmtId/InstrId"),
        local_instrument=r.text(tx, "PmtTpInf/LclInstrm/Prtry"),
        creditor_id=r.text(tx, "Cdtr/Id/OrgId/Othr/Id"),
    )


def _check_totals(r: Reader, element: etree._Element, where: str, batch: PaymentBatch) -> None:
    count = r.text(element, "NbOfTxs")
    if count is not None and int(count) != len(batch.transfers):
        raise invalid_file(
            MESSAGE.value, f"{where}/NbOfTxs says {count}, the file holds {len(batch.transfers)}"
        )
    control_sum = r.text(element, "CtrlSum")
    if control_sum is not None and Decimal(control_sum) != Decimal(batch.control_sum()):
        raise invalid_file(MESSAGE.value, f"{where}/CtrlSum does not equal the sum of the amounts")


def _need(value: str | None, what: str) -> str:
    if not value:
        raise invalid_file(MESSAGE.value, f"{what} is missing")
    return value


def _check(batch: PaymentBatch) -> None:
    check_text(batch.message_id, 35, "message_id")
    check_moment(batch.created_at, "created_at")
    check_text(batch.debtor_name, 140, "debtor_name")
    check_text(batch.debtor_account, 34, "debtor_account")
    check_text(batch.debtor_bank_code, 35, "debtor_bank_code")
    if not isinstance(batch.requested_execution_date, date) or isinstance(
        batch.requested_execution_date, datetime
    ):
        raise PayHubError(
            "validation_error", param="requested_execution_date", detail="must be a date"
        )
    if not batch.transfers:
        raise PayHubError("validation_error", param="transfers", detail="a batch needs a transfer")
    seen: set[str] = set()
    for i, t in enumerate(batch.transfers):
        field = f"transfers[{i}]"
        check_text(t.end_to_end_id, 35, f"{field}.end_to_end_id")
        if t.end_to_end_id in seen:
            raise PayHubError(
                "validation_error", param=f"{field}.end_to_end_id", detail="end_to_end_id repeats"
            )
        seen.add(t.end_to_end_id)
        exponent(t.currency, param=f"{field}.currency")
        check_amount(t.amount, param=f"{field}.amount")
        check_text(t.creditor_name, 140, f"{field}.creditor_name")
        check_text(t.creditor_account, 34, f"{field}.creditor_account")
        if t.creditor_bank_code is not None:
            check_text(t.creditor_bank_code, 35, f"{field}.creditor_bank_code")
        if t.remittance_info is not None:
            check_text(t.remittance_info, 140, f"{field}.remittance_info")
        for name in ("instruction_id", "local_instrument", "creditor_id"):
            value = getattr(t, name)
            if value is not None:
                check_text(value, 35, f"{field}.{name}")
