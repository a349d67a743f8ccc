"""pain.001.001.09: generated files validate against the official XSD and read back exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from payhub.core.currencies import all_currencies
from payhub.core.errors import PayHubError
from payhub.iso20022 import pain001
from payhub.iso20022.pain001 import CreditTransfer, PaymentBatch
from payhub.iso20022.schemas import MessageType, schema
from tests.iso20022.factories import CNAPS_CODE, IBAN, batch, transfer

NS = {"p": MessageType.PAIN_001.namespace}


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _assert_valid(data: bytes) -> None:
    xsd = schema(MessageType.PAIN_001)
    assert xsd.validate(_tree(data)), xsd.error_log


def test_one_transfer_is_a_valid_file() -> None:
    data = pain001.write(batch([transfer(1)]))
    _assert_valid(data)
    root = _tree(data)
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "1"
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "123.45"
    assert root.find(".//p:InstdAmt", NS).get("Ccy") == "CNY"


def test_two_hundred_transfers_carry_the_right_count_and_control_sum() -> None:
    transfers = [transfer(i, amount=1_000 + i * 37) for i in range(200)]
    data = pain001.write(batch(transfers))
    _assert_valid(data)
    root = _tree(data)
    expected = sum(Decimal(t.amount) / 100 for t in transfers)
    for where in ("p:GrpHdr", "p:PmtInf"):
        block = root.find(f"p:CstmrCdtTrfInitn/{where}", NS)
        assert block.findtext("p:NbOfTxs", namespaces=NS) == "200"
        assert Decimal(block.findtext("p:CtrlSum", namespaces=NS)) == expected
    assert len(root.findall(".//p:CdtTrfTxInf", NS)) == 200
    assert pain001.read(data) == batch(transfers)


def test_zero_and_three_decimal_currencies_are_written_with_their_own_exponent() -> None:
    data = pain001.write(
        batch([transfer(1, amount=500, currency="JPY"), transfer(2, amount=1_234, currency="KWD")])
    )
    _assert_valid(data)
    amounts = [(e.get("Ccy"), e.text) for e in _tree(data).iterfind(".//p:InstdAmt", NS)]
    assert amounts == [("JPY", "500"), ("KWD", "1.234")]
    assert _tree(data).findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "501.234"


def test_banks_and_accounts_take_the_iso_shape_they_are_given() -> None:
    data = pain001.write(
        batch(
            [
                CreditTransfer("e1", 100, "CNY", "A", IBAN, "DEUTDEFF"),
                CreditTransfer("e2", 100, "CNY", "B", "6217000012345", CNAPS_CODE),
                CreditTransfer("e3", 100, "CNY", "C", "6217000012346", None),
            ]
        )
    )
    txs = _tree(data).findall(".//p:CdtTrfTxInf", NS)
    assert txs[0].findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == IBAN
    assert txs[0].findtext("p:CdtrAgt/p:FinInstnId/p:BICFI", namespaces=NS) == "DEUTDEFF"
    assert txs[1].findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == "6217000012345"
    member = "p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId"
    assert txs[1].findtext(f"{member}/p:ClrSysId/p:Cd", namespaces=NS) == "CNAPS"
    assert txs[1].findtext(f"{member}/p:MmbId", namespaces=NS) == CNAPS_CODE
    assert txs[2].find("p:CdtrAgt", NS) is None
    assert list(pain001.read(data).transfers) == [
        CreditTransfer("e1", 100, "CNY", "A", IBAN, "DEUTDEFF"),
        CreditTransfer("e2", 100, "CNY", "B", "6217000012345", CNAPS_CODE),
        CreditTransfer("e3", 100, "CNY", "C", "6217000012346", None),
    ]


# ---------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------

_CURRENCIES = [c.code for c in all_currencies()]
_ID = st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ0123456789_-", min_size=1, max_size=35)
_NAME = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=140,
).filter(lambda s: s.strip() == s and s.strip() != "")
_ACCOUNT = st.one_of(st.just(IBAN), st.from_regex(r"[0-9]{8,34}", fullmatch=True))
_BANK = st.one_of(
    st.none(),
    st.just(CNAPS_CODE),
    st.from_regex(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", fullmatch=True),
)


@st.composite
def _transfers(draw: st.DrawFn) -> list[CreditTransfer]:
    ids = draw(st.lists(_ID, min_size=1, max_size=12, unique=True))
    return [
        CreditTransfer(
            end_to_end_id=e2e,
            amount=draw(st.integers(min_value=1, max_value=10**15)),
            currency=draw(st.sampled_from(_CURRENCIES)),
            creditor_name=draw(_NAME),
            creditor_account=draw(_ACCOUNT),
            creditor_bank_code=draw(_BANK),
            remittance_info=draw(st.one_of(st.none(), _NAME)),
            instruction_id=draw(st.one_of(st.none(), _ID)),
            local_instrument=draw(st.one_of(st.none(), st.sampled_from(["ibps", "hvps"]))),
            creditor_id=draw(st.one_of(st.none(), _ID)),
        )
        for e2e in ids
    ]


@settings(max_examples=60, deadline=None)
@given(
    transfers=_transfers(),
    created=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    execution=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
)
def test_any_valid_batch_round_trips_exactly(
    transfers: list[CreditTransfer], created: datetime, execution: date
) -> None:
    original = PaymentBatch(
        message_id="MSG-1",
        created_at=created,
        debtor_name="Leader",
        debtor_account="6222021234567890123",
        debtor_bank_code=CNAPS_CODE,
        requested_execution_date=execution,
        transfers=transfers,
    )
    data = pain001.write(original)
    back = pain001.read(data)
    assert back == original
    # Not a minor unit lost: the same integers, currency by currency.
    assert [(t.amount, t.currency) for t in back.transfers] == [
        (t.amount, t.currency) for t in transfers
    ]


def test_a_local_creation_time_reads_back_as_the_same_instant_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    original = batch([transfer(1)])
    local = PaymentBatch(
        **{**_fields(original), "created_at": datetime(2026, 12, 7, 16, 30, tzinfo=shanghai)}
    )
    back = pain001.read(pain001.write(local))
    assert back.created_at == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert back.created_at.tzinfo is UTC


def _fields(b: PaymentBatch) -> dict[str, object]:
    return {name: getattr(b, name) for name in PaymentBatch.__dataclass_fields__}


# ---------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"transfers": []}, "transfers"),
        ({"message_id": "M" * 36}, "message_id"),
        ({"created_at": datetime(2026, 12, 7)}, "created_at"),
        ({"debtor_name": ""}, "debtor_name"),
        ({"transfers": [transfer(1), transfer(1)]}, "transfers[1].end_to_end_id"),
        ({"transfers": [transfer(1, amount=0)]}, "transfers[0].amount"),
        ({"transfers": [transfer(1, currency="XXX")]}, "transfers[0].currency"),
        (
            {"transfers": [CreditTransfer("e", 1, "CNY", "A\x01", "1234")]},
            "transfers[0].creditor_name",
        ),
        (
            {"transfers": [CreditTransfer("e", 1, "CNY", "A", "1" * 35)]},
            "transfers[0].creditor_account",
        ),
    ],
)
def test_a_batch_outside_the_message_limits_is_refused(
    change: dict[str, object], param: str
) -> None:
    bad = PaymentBatch(**{**_fields(batch([transfer(1)])), **change})
    with pytest.raises(PayHubError) as caught:
        pain001.write(bad)
    assert caught.value.param == param


def test_an_amount_beyond_the_schema_digits_is_a_request_error_not_a_file() -> None:
    with pytest.raises(PayHubError) as caught:
        pain001.write(batch([transfer(1, amount=10**18 + 1)]))
    assert caught.value.code == "validation_error"


def _good() -> bytes:
    return pain001.write(batch([transfer(1), transfer(2, amount=500)]))


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (lambda d: d.replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>", 1), "NbOfTxs"),
        (
            lambda d: d.replace(b"<CtrlSum>128.45</CtrlSum>", b"<CtrlSum>128.46</CtrlSum>", 1),
            "CtrlSum",
        ),
        (lambda d: d.replace(b">123.45<", b">123.456<"), "minor units"),
        (lambda d: d.replace(b'Ccy="CNY"', b'Ccy="XTS"', 1), "not a money currency"),
        (lambda d: d.replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>CHK</PmtMtd>"), "TRF"),
        (
            lambda d: d.replace(b"<CreDtTm>2026-12-07T08:30:00Z", b"<CreDtTm>2026-12-07T08:30:00"),
            "UTC",
        ),
        (lambda d: d[: len(d) // 2], "line"),
        (lambda d: d.replace(b"pain.001.001.09", b"pain.001.001.03"), None),
        (lambda d: b"", None),
        (
            lambda d: d.replace(
                b"<?xml version='1.0' encoding='UTF-8'?>",
                b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x "y">]>',
            ),
            "document type",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_the_catalogue_error(mutate, says: str | None) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PayHubError) as caught:
        pain001.read(mutate(_good()))
    error = caught.value
    assert error.code == "invalid_file"
    assert error.status == 400
    if says:
        assert says in error.message()
    assert error.message("zh").startswith("文件不是有效的")


def test_refusals_never_echo_an_account_number() -> None:
    data = _good().replace(
        b"<Id>6222021234567890123</Id>", b"<Id>6222021234567890123456789012345678901234</Id>"
    )
    with pytest.raises(PayHubError) as caught:
        pain001.read(data)
    assert "6222021234567890123" not in caught.value.message()
    assert "345678901234" not in caught.value.message()
    assert "CdtrAcct" in caught.value.message() or "Id" in caught.value.message()
