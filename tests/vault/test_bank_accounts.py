"""Binding, reading and revealing bank accounts."""

from __future__ import annotations

from typing import Any

import pytest

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.vault import service
from payhub.vault.service import BankAccountView
from tests.vault.helpers import (
    MERCHANT,
    OTHER_MERCHANT,
    assert_no_card_data,
    count,
    error_texts,
    row_of,
)

NUMBER = "1100 2233 4455 6677 889"


async def bind_account(db: Database, **changes: Any) -> tuple[BankAccountView, bool]:
    args: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "owner_ref": MERCHANT,
        "bank_code": "PARTNER",
        "account_number": NUMBER,
        "holder_name": "Noodle Shop Ltd",
    } | changes
    return await db.run_in_transaction(lambda s: service.bind_bank_account(s, **args))


async def test_bind_get_reveal_round_trip(db: Database) -> None:
    view, created = await bind_account(db, holder_name="  兰州拉面馆 ")
    assert created and view.token.startswith("ba_")
    assert (view.bank_code, view.bank_name_en, view.bank_name_zh) == (
        "PARTNER",
        "Jinghai City Commercial Bank",
        "靖海市商业银行",
    )
    assert (view.owner_ref, view.holder_name, view.last4) == (MERCHANT, "兰州拉面馆", "7889")
    got = await db.run_in_transaction(
        lambda s: service.get_bank_account(s, view.token, merchant_id=MERCHANT)
    )
    assert got == view
    revealed = await db.run_in_transaction(lambda s: service.reveal_bank_account(s, view.token))
    assert revealed.account_number == NUMBER.replace(" ", "")
    assert (revealed.bank_code, revealed.holder_name) == ("PARTNER", "兰州拉面馆")
    for shown in (repr(view), str(view), repr(revealed), str(revealed)):
        assert NUMBER.replace(" ", "") not in shown
    row = await row_of(db, "vault_bank_accounts", view.token)
    assert NUMBER.replace(" ", "").encode() not in bytes(row["ciphertext"])


async def test_the_same_account_twice_gives_the_same_token(db: Database) -> None:
    first, _ = await bind_account(db)
    again, created = await bind_account(db, bank_code="partner", holder_name="Noodle Shop Co")
    assert not created and again.token == first.token
    assert again.holder_name == "Noodle Shop Co"  # the latest name is kept
    other_owner, created = await bind_account(db, owner_ref="cus_alice")
    assert created and other_owner.token != first.token
    assert other_owner.fingerprint == first.fingerprint
    other_bank, _ = await bind_account(db, bank_code="ICBC")
    assert other_bank.fingerprint != first.fingerprint  # the bank is part of the account


async def test_another_merchant_cannot_see_the_account(db: Database) -> None:
    view, _ = await bind_account(db)
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(
            lambda s: service.get_bank_account(s, view.token, merchant_id=OTHER_MERCHANT)
        )
    assert info.value.code == "payment_method_not_found"


async def test_a_card_token_is_not_a_bank_account(db: Database) -> None:
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(
            lambda s: service.reveal_bank_account(s, "card_01JD8Z3V6W7X8Y9Z0A1B2C3D4E")
        )
    assert info.value.code == "payment_method_not_found"


@pytest.mark.parametrize(
    ("changes", "code", "param"),
    [
        ({"bank_code": "NOSUCHBANK"}, "bank_account_invalid", "bank_code"),
        ({"account_number": "1234567"}, "bank_account_invalid", "account_number"),
        ({"account_number": "1" * 31}, "bank_account_invalid", "account_number"),
        ({"account_number": "11002233x4455"}, "bank_account_invalid", "account_number"),
        ({"holder_name": "   "}, "bank_account_invalid", "holder_name"),
        ({"holder_name": "x" * 201}, "bank_account_invalid", "holder_name"),
        ({"owner_ref": ""}, "validation_error", "owner_ref"),
        ({"merchant_id": "m" * 41}, "validation_error", "merchant_id"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    db: Database, changes: dict[str, Any], code: str, param: str
) -> None:
    args: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "owner_ref": MERCHANT,
        "bank_code": "ICBC",
        "account_number": NUMBER,
        "holder_name": "Noodle Shop Ltd",
    } | changes
    async with db.session() as s:
        with pytest.raises(PayHubError) as info:
            await service.bind_bank_account(s, **args)
        assert (info.value.code, info.value.param) == (code, param)
        assert await count(s, "vault_bank_accounts") == 0
        assert await count(s, "vault_data_keys") == 0
    for texts in error_texts(info.value):
        assert_no_card_data(texts, NUMBER)
