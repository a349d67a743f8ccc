"""Concurrent withdrawals that together exceed the available balance: exactly the
affordable ones succeed and the balance never goes negative (PostgreSQL)."""

from __future__ import annotations

import asyncio

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.settlement.payouts import flow
from payhub.settlement.payouts.service import PayoutOrder
from tests.conftest import requires_postgres
from tests.settlement.payouts.helpers import (
    add_payee,
    available,
    balance,
    ledger_is_balanced,
    open_party,
)

pytestmark = requires_postgres


async def test_concurrent_withdrawals_never_overdraw(db: Database) -> None:
    shop = await open_party(db, "Busy Shop", funds=100_000)
    payees = [shop.payee_id] + [
        await add_payee(db, shop.merchant_id, f"Busy Shop {i}") for i in range(3)
    ]
    asked = 40  # 40 × 7 000 = 280 000 against 100 000: 14 fit

    async def withdraw(i: int) -> str:
        order = PayoutOrder(shop.merchant_id, 7_000, "CNY", payees[i % len(payees)], instant=True)
        try:
            (row,) = await flow.create_and_send(db, order)
        except PayHubError as error:
            return error.code
        return row.status

    outcomes = await asyncio.gather(*(withdraw(i) for i in range(asked)))
    fee = 7 + 100  # 10 bps of 7 000 plus 1.00
    fits = 100_000 // (7_000 + fee)
    assert outcomes.count("paid") == fits, outcomes
    assert outcomes.count("insufficient_funds") == asked - fits, outcomes
    left = 100_000 - fits * (7_000 + fee)
    assert await balance(db, f"merchant:{shop.merchant_id}:available") == left >= 0
    assert await available(db, shop.merchant_id) == left
    assert await ledger_is_balanced(db)
