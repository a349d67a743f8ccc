"""pain.002.001.12: status reports as a bank writes them, read back per end-to-end id."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from payhub.core.errors import PayHubError
from payhub.iso20022 import pain002
from payhub.iso20022.pain002 import PaymentStatus, StatusOutcome, StatusReport, TransactionStatus
from payhub.iso20022.schemas import MessageType, schema
from tests.iso20022.factories import T0


def _report(*statuses: TransactionStatus, group: PaymentStatus | None = None) -> StatusReport:
    return StatusReport.of("STS-0001", T0, "SPLIT-2026-0001", statuses, group)


def test_a_report_validates_and_reads_back_keyed_by_end_to_end_id() -> None:
    report = _report(
        TransactionStatus("po_1", PaymentStatus.ACSC),
        TransactionStatus("po_2", PaymentStatus.RJCT, "AC04", "account closed"),
        TransactionStatus("po_3", PaymentStatus.PDNG),
        group=PaymentStatus.PART,
    )
    data = pain002.write(report)
    xsd = schema(MessageType.PAIN_002)
    assert xsd.validate(etree.fromstring(data)), xsd.error_log
    back = pain002.read(data)
    assert back == report
    assert back.transactions["po_2"].reason_code == "AC04"
    assert back.original_message_name == "pain.001.001.09"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (PaymentStatus.ACSC, StatusOutcome.PAID),
        (PaymentStatus.ACCC, StatusOutcome.PAID),
        (PaymentStatus.ACCP, StatusOutcome.PENDING),
        (PaymentStatus.ACSP, StatusOutcome.PENDING),
        (PaymentStatus.ACTC, StatusOutcome.PENDING),
        (PaymentStatus.PDNG, StatusOutcome.PENDING),
        (PaymentStatus.BLCK, StatusOutcome.PENDING),
        (PaymentStatus.RJCT, StatusOutcome.FAILED),
        (PaymentStatus.CANC, StatusOutcome.FAILED),
    ],
)
def test_statuses_map_to_payout_outcomes(status: PaymentStatus, outcome: StatusOutcome) -> None:
    report = pain002.read(pain002.write(_report(TransactionStatus("po_1", status))))
    assert report.transactions["po_1"].status is status
    assert report.transactions["po_1"].status.outcome is outcome


def test_a_whole_file_rejection_applies_to_every_transfer() -> None:
    report = pain002.read(pain002.write(_report(group=PaymentStatus.RJCT)))
    assert report.transactions == {}
    assert report.status_of("po_anything") is PaymentStatus.RJCT


def test_a_transaction_without_its_own_status_takes_its_blocks() -> None:
    data = pain002.write(_report(TransactionStatus("po_1", PaymentStatus.ACSC)))
    data = data.replace(b"<TxSts>ACSC</TxSts>", b"").replace(
        b"<OrgnlPmtInfId>SPLIT-2026-0001</OrgnlPmtInfId>",
        b"<OrgnlPmtInfId>SPLIT-2026-0001</OrgnlPmtInfId><PmtInfSts>ACCP</PmtInfSts>",
    )
    assert pain002.read(data).status_of("po_1") is PaymentStatus.ACCP


_CODES = st.sampled_from(list(PaymentStatus))


@settings(max_examples=40, deadline=None)
@given(
    entries=st.dictionaries(
        st.from_regex(r"po_[0-9A-Z]{1,30}", fullmatch=True),
        st.tuples(_CODES, st.one_of(st.none(), st.from_regex(r"[A-Z]{2}[0-9]{2}", fullmatch=True))),
        max_size=30,
    ),
    group=st.one_of(st.none(), _CODES),
)
def test_any_report_round_trips(
    entries: dict[str, tuple[PaymentStatus, str | None]], group: PaymentStatus | None
) -> None:
    report = _report(*(TransactionStatus(k, s, r) for k, (s, r) in entries.items()), group=group)
    assert pain002.read(pain002.write(report)) == report


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (
            lambda d: d.replace(b"<TxSts>ACSC</TxSts>", b"<TxSts>ZZZZ</TxSts>"),
            "unknown status code ZZZZ",
        ),
        (lambda d: d.replace(b"<TxSts>ACSC</TxSts>", b"<TxSts>ACSCX</TxSts>"), "TxSts"),
        (lambda d: d.replace(b"<OrgnlEndToEndId>po_1</OrgnlEndToEndId>", b""), "OrgnlEndToEndId"),
        (lambda d: d.replace(b"po_2", b"po_1"), "two statuses"),
        (lambda d: d.replace(b"<TxSts>ACSC</TxSts>", b""), "no status"),
        (lambda d: d.replace(b"pain.002.001.12", b"pain.002.001.03"), None),
        (lambda d: d[:-40], None),
    ],
)
def test_a_malformed_report_is_refused(mutate, says: str | None) -> None:  # type: ignore[no-untyped-def]
    good = pain002.write(
        _report(
            TransactionStatus("po_1", PaymentStatus.ACSC),
            TransactionStatus("po_2", PaymentStatus.RJCT),
        )
    )
    with pytest.raises(PayHubError) as caught:
        pain002.read(mutate(good))
    assert caught.value.code == "invalid_file"
    if says:
        assert says in caught.value.message()


def test_a_report_that_repeats_an_end_to_end_id_cannot_be_built() -> None:
    with pytest.raises(PayHubError) as caught:
        _report(
            TransactionStatus("po_1", PaymentStatus.ACSC),
            TransactionStatus("po_1", PaymentStatus.RJCT),
        )
    assert caught.value.code == "validation_error"


def test_a_reason_code_longer_than_four_letters_is_refused_before_writing() -> None:
    with pytest.raises(PayHubError) as caught:
        pain002.write(_report(TransactionStatus("po_1", PaymentStatus.RJCT, "AC04X")))
    assert caught.value.param == "transactions[po_1].reason_code"
