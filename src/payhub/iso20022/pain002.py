"""pain.002, customer payment status report: the bank's answer to a pain.001 file, saying per
credit transfer (by its end-to-end id) whether it was accepted, settled or rejected and why.

PayHub writes pain.002.001.12; the simulator's rails answer with it as a bank would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from lxml import etree

from payhub.core.errors import PayHubError
from payhub.iso20022.pain001 import MESSAGE as PAIN001
from payhub.iso20022.schemas import Builder, MessageType, Reader, invalid_file, parse, serialize
from payhub.iso20022.values import check_moment, check_text, datetime_text, parse_datetime

MESSAGE = MessageType.PAIN_002


class StatusOutcome(StrEnum):
    PAID = "paid"  # the money has left the debtor's account for the creditor
    PENDING = "pending"  # accepted or held; a later report will settle it
    FAILED = "failed"  # rejected or cancelled: no money moved


class PaymentStatus(StrEnum):
    """ISO 20022 external payment (transaction and group) status codes."""

    ACCC = "ACCC"  # accepted, settlement completed on the creditor's account
    ACCP = "ACCP"  # accepted, customer profile checked
    ACFC = "ACFC"  # accepted, funds checked
    ACIS = "ACIS"  # accepted, cheque issued
    ACPD = "ACPD"  # accepted, clearing processed
    ACSC = "ACSC"  # accepted, settlement completed on the debtor's account
    ACSP = "ACSP"  # accepted, settlement in process
    ACTC = "ACTC"  # accepted, technical validation passed
    ACWC = "ACWC"  # accepted with change
    ACWP = "ACWP"  # accepted without posting
    BLCK = "BLCK"  # blocked: funds held, neither paid nor returned yet
    CANC = "CANC"  # cancelled
    PART = "PART"  # group status: some transactions accepted, some rejected
    PATC = "PATC"  # partially accepted, technically correct
    PDNG = "PDNG"  # pending
    PRES = "PRES"  # presented
    RCVD = "RCVD"  # received
    RJCT = "RJCT"  # rejected

    @property
    def outcome(self) -> StatusOutcome:
        if self in (PaymentStatus.ACSC, PaymentStatus.ACCC):
            return StatusOutcome.PAID
        if self in (PaymentStatus.RJCT, PaymentStatus.CANC):
            return StatusOutcome.FAILED
        return StatusOutcome.PENDING


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    end_to_end_id: str
    status: PaymentStatus
    reason_code: str | None = None  # ISO external status reason, e.g. AC04 closed account
    additional_info: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    message_id: str
    created_at: datetime
    original_message_id: str  # the pain.001's message id
    group_status: PaymentStatus | None = None
    transactions: Mapping[str, TransactionStatus] = field(default_factory=dict)
    original_message_name: str = PAIN001.value

    def __post_init__(self) -> None:
        object.__setattr__(self, "transactions", dict(self.transactions))

    @classmethod
    def of(
        cls,
        message_id: str,
        created_at: datetime,
        original_message_id: str,
        statuses: Iterable[TransactionStatus],
        group_status: PaymentStatus | None = None,
    ) -> StatusReport:
        listed = list(statuses)
        by_id = {s.end_to_end_id: s for s in listed}
        if len(by_id) != len(listed):
            raise PayHubError("validation_error", param="statuses", detail="end_to_end_id repeats")
        return cls(message_id, created_at, original_message_id, group_status, by_id)

    def status_of(self, end_to_end_id: str) -> PaymentStatus | None:
        """A transaction's own status, else the whole file's, else None (not reported on)."""
        found = self.transactions.get(end_to_end_id)
        return found.status if found is not None else self.group_status


def write(report: StatusReport) -> bytes:
    """The report as a pain.002.001.12 file, validated against the official XSD."""
    _check(report)
    b = Builder(MESSAGE)
    root = b.root()
    body = b.sub(root, "CstmrPmtStsRpt")
    header = b.sub(body, "GrpHdr")
    b.sub(header, "MsgId", report.message_id)
    b.sub(header, "CreDtTm", datetime_text(report.created_at))
    original = b.sub(body, "OrgnlGrpInfAndSts")
    b.sub(original, "OrgnlMsgId", report.original_message_id)
    b.sub(original, "OrgnlMsgNmId", report.original_message_name)
    if report.group_status is not None:
        b.sub(original, "GrpSts", report.group_status.value)
    if report.transactions:
        block = b.sub(body, "OrgnlPmtInfAndSts")
        # PayHub's pain.001 files use the message id as their one payment information id.
        b.sub(block, "OrgnlPmtInfId", report.original_message_id)
        for status in report.transactions.values():
            tx = b.sub(block, "TxInfAndSts")
            b.sub(tx, "OrgnlEndToEndId", status.end_to_end_id)
            b.sub(tx, "TxSts", status.status.value)
            if status.reason_code is not None or status.additional_info is not None:
                reason = b.sub(tx, "StsRsnInf")
                if status.reason_code is not None:
                    b.path(reason, "Rsn", "Cd", text=status.reason_code)
                if status.additional_info is not None:
                    b.sub(reason, "AddtlInf", status.additional_info)
    return serialize(root, MESSAGE)


def read(data: bytes) -> StatusReport:
    """A pain.002.001.12 file as a report. Every transaction status names its end-to-end id
    and a known status code (its own, or its payment block's, or the file's)."""
    root = parse(data, MESSAGE)
    r = Reader(MESSAGE)
    body = root[0]
    header = body[0]
    created_at = parse_datetime(r.text(header, "CreDtTm") or "")
    if created_at is None:
        raise invalid_file(MESSAGE.value, "GrpHdr/CreDtTm has no UTC offset")
    original = r.find(body, "OrgnlGrpInfAndSts")
    if original is None:
        raise invalid_file(MESSAGE.value, "OrgnlGrpInfAndSts is missing")
    group_status = _status(r.text(original, "GrpSts"), "GrpSts")

    transactions: dict[str, TransactionStatus] = {}
    for block in r.findall(body, "OrgnlPmtInfAndSts"):
        block_status = _status(r.text(block, "PmtInfSts"), "PmtInfSts") or group_status
        for tx in r.findall(block, "TxInfAndSts"):
            status = _read_transaction(r, tx, block_status, len(transactions))
            if status.end_to_end_id in transactions:
                raise invalid_file(MESSAGE.value, "two statuses for one OrgnlEndToEndId")
            transactions[status.end_to_end_id] = status
    return StatusReport(
        message_id=r.text(header, "MsgId") or "",
        created_at=created_at,
        original_message_id=r.text(original, "OrgnlMsgId") or "",
        group_status=group_status,
        transactions=transactions,
        original_message_name=r.text(original, "OrgnlMsgNmId") or "",
    )


def _read_transaction(
    r: Reader, tx: etree._Element, fallback: PaymentStatus | None, index: int
) -> TransactionStatus:
    where = f"TxInfAndSts {index + 1}"
    end_to_end_id = r.text(tx, "OrgnlEndToEndId")
    if not end_to_end_id:
        raise invalid_file(MESSAGE.value, f"{where}: OrgnlEndToEndId is missing")
    status = _status(r.text(tx, "TxSts"), f"{where}: TxSts") or fallback
    if status is None:
        raise invalid_file(MESSAGE.value, f"{where}: no status for the transaction or its group")
    reason = r.find(tx, "StsRsnInf")
    reason_code = info = None
    if reason is not None:
        reason_code = r.text(reason, "Rsn/Cd") or r.text(reason, "Rsn/Prtry")
        lines = [line.text or "" for line in r.findall(reason, "AddtlInf")]
        info = " ".join(lines) if lines else None
    return TransactionStatus(end_to_end_id, status, reason_code, info)


def _status(code: str | None, where: str) -> PaymentStatus | None:
    if code is None:
        return None
    try:
        return PaymentStatus(code)
    except ValueError:
        raise invalid_file(MESSAGE.value, f"{where}: unknown status code {code}") from None


def _check(report: StatusReport) -> None:
    check_text(report.message_id, 35, "message_id")
    check_moment(report.created_at, "created_at")
    check_text(report.original_message_id, 35, "original_message_id")
    check_text(report.original_message_name, 35, "original_message_name")
    for key, status in report.transactions.items():
        field_name = f"transactions[{key}]"
        if key != status.end_to_end_id:
            raise PayHubError(
                "validation_error", param=field_name, detail="keyed by another end_to_end_id"
            )
        check_text(status.end_to_end_id, 35, f"{field_name}.end_to_end_id")
        if status.reason_code is not None:
            check_text(status.reason_code, 4, f"{field_name}.reason_code")
        if status.additional_info is not None:
            check_text(status.additional_info, 105, f"{field_name}.additional_info")
