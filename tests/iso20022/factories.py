"""Batches, reports and statement lines for the ISO 20022 tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from payhub.channels.base import StatementKind, StatementLine
from payhub.iso20022.pain001 import CreditTransfer, PaymentBatch

T0 = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
LEADER_ACCOUNT = "6222021234567890123"
CNAPS_CODE = "102100099996"
IBAN = "DE89370400440532013000"


def batch(transfers: list[CreditTransfer], message_id: str = "SPLIT-2026-0001") -> PaymentBatch:
    return PaymentBatch(
        message_id=message_id,
        created_at=T0,
        debtor_name="团长 Leader Co",
        debtor_account=LEADER_ACCOUNT,
        debtor_bank_code=CNAPS_CODE,
        requested_execution_date=date(2026, 12, 8),
        transfers=transfers,
    )


def transfer(i: int, amount: int = 12_345, currency: str = "CNY") -> CreditTransfer:
    return CreditTransfer(
        end_to_end_id=f"po_{i:026d}",
        amount=amount,
        currency=currency,
        creditor_name=f"供应商 Supplier {i}",
        creditor_account=f"62170000{i:011d}",
        creditor_bank_code=CNAPS_CODE if i % 2 else "ICBKCNBJXXX",
        remittance_info=f"split SPLIT-2026-0001 #{i}" if i % 3 else None,
    )


def line(
    i: int, kind: StatementKind = StatementKind.CAPTURE, channel: str = "sim-a"
) -> StatementLine:
    return StatementLine(
        channel_id=channel,
        kind=kind,
        request_id=f"req_{i:026d}",
        channel_ref=f"CH{i:012d}",
        authorization_ref=None if kind is StatementKind.PAYOUT else f"AUTH{i:08d}",
        payment_id=f"pay_{i:026d}",
        amount=100 + i,
        currency="CNY",
        fee=(100 + i) * 6 // 1000 if kind is StatementKind.CAPTURE else 0,
        occurred_at=T0 + timedelta(seconds=i, microseconds=i % 1000),
    )
