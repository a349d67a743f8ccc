"""A second, independent XSD validator (xmlschema, pure Python) agrees that what PayHub
writes is valid: the files do not merely satisfy libxml2, they satisfy the schema."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from importlib import resources

import pytest
import xmlschema

from payhub.channels.base import StatementKind
from payhub.iso20022 import camt053, pain001, pain002
from payhub.iso20022.pain002 import PaymentStatus, StatusReport, TransactionStatus
from payhub.iso20022.schemas import MessageType
from tests.iso20022.factories import T0, batch, line, transfer


@cache
def _schema(message: MessageType) -> xmlschema.XMLSchema:
    path = resources.files("payhub.iso20022").joinpath(f"xsd/{message.value}.xsd")
    return xmlschema.XMLSchema(str(path))


def test_pain001_files_of_1_and_200_transfers() -> None:
    for count in (1, 200):
        data = pain001.write(batch([transfer(i, amount=100 + i) for i in range(count)]))
        _schema(MessageType.PAIN_001).validate(data.decode())


def test_a_pain002_report() -> None:
    report = StatusReport.of(
        "STS-1",
        T0,
        "SPLIT-2026-0001",
        [
            TransactionStatus("po_1", PaymentStatus.ACSC),
            TransactionStatus("po_2", PaymentStatus.RJCT, "AC04", "closed"),
        ],
        PaymentStatus.PART,
    )
    _schema(MessageType.PAIN_002).validate(pain002.write(report).decode())


def test_a_camt053_statement() -> None:
    kinds = [StatementKind.CAPTURE, StatementKind.REFUND, StatementKind.PAYOUT]
    lines = [line(i, kinds[i % 3]) for i in range(300)]
    statement = camt053.from_lines("sim-a", (T0, T0 + timedelta(days=1)), lines, -5_000)
    _schema(MessageType.CAMT_053).validate(camt053.write(statement).decode())


def test_the_second_validator_rejects_what_libxml2_rejects() -> None:
    data = pain001.write(batch([transfer(1)])).replace(b"<PmtMtd>TRF", b"<PmtMtd>XXX")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        _schema(MessageType.PAIN_001).validate(data.decode())
