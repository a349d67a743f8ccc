"""Binding, reading and revealing cards."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.vault import service
from payhub.vault.models import VaultBankAccount, VaultCard
from tests.vault.helpers import (
    CUSTOMER,
    MERCHANT,
    OTHER_MERCHANT,
    assert_no_card_data,
    bind,
    card,
    count,
    error_texts,
    row_of,
)


async def test_bind_get_reveal_round_trip(db: Database) -> None:
    pan = card("ICBC", "debit")
    view, created = await bind(db, pan, exp_month=3, exp_year=2029, holder_name=" Zhang San ")
    assert created
    assert view.token.startswith("card_")
    assert (view.first6, view.last4) == (pan[:6], pan[-4:])
    assert (view.brand, view.card_type, view.issuer_code) == ("unionpay", "debit", "ICBC")
    assert (view.issuer_name_en, view.issuer_name_zh) == (
        "Industrial and Commercial Bank of China",
        "中国工商银行",
    )
    assert (view.exp_month, view.exp_year) == (3, 2029)
    assert len(view.fingerprint) == 64
    assert view.created_at == clock.now()

    got = await db.run_in_transaction(
        lambda s: service.get_card(s, view.token, merchant_id=MERCHANT)
    )
    assert got == view

    revealed = await db.run_in_transaction(lambda s: service.reveal_card(s, view.token))
    assert revealed.pan == pan
    assert (revealed.exp_month, revealed.exp_year) == (3, 2029)
    assert (revealed.issuer_code, revealed.card_type, revealed.brand) == (
        "ICBC",
        "debit",
        "unionpay",
    )
    row = await row_of(db, "vault_cards", view.token)
    assert row["holder_name"] == "Zhang San"
    assert row["merchant_id"] == MERCHANT and row["customer_id"] == CUSTOMER


async def test_formatted_numbers_are_stored_as_digits(db: Database) -> None:
    pan = card("CMB", "credit")
    spaced = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    view, _ = await bind(db, spaced)
    revealed = await db.run_in_transaction(lambda s: service.reveal_card(s, view.token))
    assert revealed.pan == pan
    again, created = await bind(db, pan)
    assert again.token == view.token and not created


async def test_the_same_card_twice_gives_the_same_token(db: Database) -> None:
    pan = card("CCB", "credit")
    first, created = await bind(db, pan)
    second, created_again = await bind(db, pan)
    assert created and not created_again
    assert second == first
    async with db.session() as s:
        assert await count(s, "vault_cards") == 1


async def test_another_customer_gets_its_own_token_with_the_same_fingerprint(
    db: Database,
) -> None:
    pan = card("CCB", "credit")
    alice, _ = await bind(db, pan, customer_id="cus_alice")
    bob, created = await bind(db, pan, customer_id="cus_bob")
    guest, guest_created = await bind(db, pan, customer_id=None)
    elsewhere, elsewhere_created = await bind(db, pan, merchant_id=OTHER_MERCHANT)
    assert created and guest_created and elsewhere_created
    assert len({alice.token, bob.token, guest.token, elsewhere.token}) == 4
    assert alice.fingerprint == bob.fingerprint == guest.fingerprint == elsewhere.fingerprint
    # A card bound without a customer is also found again (the partial unique index).
    guest_again, created = await bind(db, pan, customer_id=None)
    assert guest_again.token == guest.token and not created


async def test_different_cards_have_different_fingerprints(db: Database) -> None:
    one, _ = await bind(db, card("ABC", "debit", seed=1))
    two, _ = await bind(db, card("ABC", "debit", seed=2))
    assert one.fingerprint != two.fingerprint


async def test_binding_again_keeps_the_token_and_takes_the_new_expiry(db: Database) -> None:
    """A reissued card keeps its number and gets a new expiry date."""
    pan = card("BOC", "debit")
    old, _ = await bind(db, pan, exp_month=1, exp_year=2027)
    new, created = await bind(db, pan, exp_month=1, exp_year=2031, holder_name="Li Si")
    assert not created and new.token == old.token
    assert (new.exp_month, new.exp_year) == (1, 2031)
    revealed = await db.run_in_transaction(lambda s: service.reveal_card(s, old.token))
    assert (revealed.exp_year, revealed.pan) == (2031, pan)
    assert (await row_of(db, "vault_cards", old.token))["holder_name"] == "Li Si"


async def test_another_merchant_cannot_see_the_card(db: Database) -> None:
    view, _ = await bind(db, card())
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(
            lambda s: service.get_card(s, view.token, merchant_id=OTHER_MERCHANT)
        )
    assert info.value.code == "payment_method_not_found"
    assert info.value.status == 404


@pytest.mark.parametrize("token", ["card_01JD8Z3V6W7X8Y9Z0A1B2C3D4E", "ba_nope", "", "nonsense"])
async def test_unknown_tokens(db: Database, token: str) -> None:
    for call in (
        lambda s: service.get_card(s, token, merchant_id=MERCHANT),
        lambda s: service.reveal_card(s, token),
    ):
        with pytest.raises(PayHubError) as info:
            await db.run_in_transaction(call)
        assert info.value.code == "payment_method_not_found"


async def test_a_bank_account_token_is_not_a_card(db: Database) -> None:
    account, _ = await db.run_in_transaction(
        lambda s: service.bind_bank_account(
            s,
            merchant_id=MERCHANT,
            owner_ref=CUSTOMER,
            bank_code="ICBC",
            account_number="6222020000000000000",
            holder_name="Zhang San",
        )
    )
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(
            lambda s: service.get_card(s, account.token, merchant_id=MERCHANT)
        )
    assert info.value.code == "payment_method_not_found"


def _bad_luhn(pan: str) -> str:
    return pan[:-1] + str((int(pan[-1]) + 1) % 10)


GOOD = card("CMB", "debit", seed=7)  # 16 digits

BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("bad luhn", {"pan": _bad_luhn(GOOD)}, "card_number_invalid"),
    ("too short", {"pan": "4111 1111 1111"}, "card_number_invalid"),
    ("too long", {"pan": GOOD + "0000"}, "card_number_invalid"),
    ("not the bin's length", {"pan": GOOD[:-1]}, "card_number_invalid"),
    ("letters", {"pan": GOOD[:8] + "ABCD" + GOOD[12:]}, "card_number_invalid"),
    ("unknown bin", {"pan": "4111111111111111"}, "card_bin_unknown"),
    ("expired", {"exp_month": 10, "exp_year": 2026}, "card_expired"),
    ("year in the past", {"exp_year": 2024}, "card_expired"),
    ("month 13", {"exp_month": 13}, "card_expiry_invalid"),
    ("month 0", {"exp_month": 0}, "card_expiry_invalid"),
    ("two-digit year", {"exp_year": 28}, "card_expiry_invalid"),
    ("no merchant", {"merchant_id": ""}, "validation_error"),
    ("long customer", {"customer_id": "c" * 41}, "validation_error"),
    ("long holder name", {"holder_name": "x" * 201}, "validation_error"),
]


@pytest.mark.parametrize(
    ("changes", "code"),
    [(changes, code) for _, changes, code in BAD_INPUTS],
    ids=[name for name, _, _ in BAD_INPUTS],
)
async def test_bad_input_is_refused_with_its_code_and_writes_nothing(
    db: Database, changes: dict[str, Any], code: str
) -> None:
    args: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "customer_id": CUSTOMER,
        "pan": GOOD,
        "exp_month": 12,
        "exp_year": 2028,
        "holder_name": None,
    } | changes
    async with db.session() as s:
        with pytest.raises(PayHubError) as info:
            await service.bind_card(s, **args)
        assert info.value.code == code
        # Checked inside the (still open) transaction: nothing was even flushed.
        for table in ("vault_cards", "vault_data_keys"):
            assert await count(s, table) == 0, table
    for texts in error_texts(info.value):
        assert_no_card_data(texts, args["pan"])
        assert_no_card_data(texts, GOOD)


async def test_views_and_revealed_cards_do_not_print_the_number(db: Database) -> None:
    pan = card("PARTNER", "credit")
    view, _ = await bind(db, pan)
    revealed = await db.run_in_transaction(lambda s: service.reveal_card(s, view.token))
    for shown in (str(view), repr(view), str(revealed), repr(revealed)):
        assert pan not in shown
        assert pan[6:-4] not in shown  # the middle digits, masked everywhere
    assert "pan" not in repr(revealed)
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(
            lambda s: service.get_card(s, view.token, merchant_id=OTHER_MERCHANT)
        )
    for texts in error_texts(info.value):
        assert_no_card_data(texts, pan)


async def test_a_number_passed_as_a_token_is_not_echoed(db: Database) -> None:
    pan = card()
    await bind(db, pan)
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(lambda s: service.get_card(s, pan, merchant_id=MERCHANT))
    for texts in error_texts(info.value):
        assert_no_card_data(texts, pan)


def test_no_security_code_anywhere() -> None:
    """The CVV is never an argument of the vault, nor a column of its tables."""
    functions = [
        getattr(service, name)
        for name in dir(service)
        if inspect.iscoroutinefunction(getattr(service, name))
    ]
    assert service.bind_card in functions
    for function in functions:
        for parameter in inspect.signature(function).parameters:
            assert not any(word in parameter.lower() for word in ("cvv", "cvc", "cvn", "security"))
    for model in (VaultCard, VaultBankAccount):
        for column in model.__table__.columns:
            assert not any(word in column.name for word in ("cvv", "cvc", "cvn", "security"))


async def test_expired_during_the_binding_clock(db: Database, frozen_clock: Any) -> None:
    frozen_clock.set(datetime(2028, 12, 31, 23, 59, tzinfo=UTC))
    view, _ = await bind(db, card(), exp_month=12, exp_year=2028)
    assert view.exp_year == 2028
    frozen_clock.set(datetime(2029, 1, 1, tzinfo=UTC))
    with pytest.raises(PayHubError) as info:
        await bind(db, card(seed=99), exp_month=12, exp_year=2028)
    assert info.value.code == "card_expired"


async def test_card_rows_hold_only_the_allowed_parts_in_clear(db: Database) -> None:
    pan = card("PSBC", "debit")
    view, _ = await bind(db, pan)
    async with db.session() as s:
        rows = (await s.execute(text("SELECT * FROM vault_cards"))).mappings().all()
    assert len(rows) == 1
    for name, value in rows[0].items():
        if isinstance(value, str):
            assert pan[6:-4] not in value, name
    assert rows[0]["first6"] == pan[:6] and rows[0]["last4"] == pan[-4:]
    assert view.token == rows[0]["token"]
