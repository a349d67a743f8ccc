"""Fees under concurrent captures and refunds (PostgreSQL): every journal balanced, the fee
accounts equal to the fee records, and no refund returning more fee than was charged."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from payhub.db.session import Database
from tests.conftest import requires_postgres
from tests.payments.helpers import balance, channel_costs, merchant_fees, open_shop
from tests.settlement.test_fees_api import fees_of, sale, trial_balance


@requires_postgres
async def test_concurrent_sales_and_refunds_book_fees_exactly(
    client: httpx.AsyncClient, as_key: Any, db: Database
) -> None:
    shops = [await open_shop(client, as_key, name=f"Shop {i}") for i in range(3)]
    tokens = [(await shop.card("PARTNER", "debit"))[0] for shop in shops]
    amounts = [1_234 + 777 * i for i in range(12)]
    paid = await asyncio.gather(
        *(sale(shops[i % 3], tokens[i % 3], amount) for i, amount in enumerate(amounts))
    )

    # Five refunds of one payment at once: each is either applied or refused, never
    # applied twice, and the fee returned never exceeds the fee charged.
    target, owner = paid[0], shops[0]
    answers = await asyncio.gather(
        *(owner.me.post("/v1/refunds", json={"payment": target, "amount": 400}) for _ in range(5))
    )
    applied = [a for a in answers if a.status_code == 201]
    refused = {a.json()["error"]["code"] for a in answers if a.status_code != 201}
    assert applied and refused <= {"payment_operation_in_progress", "refund_exceeds_captured"}
    fees = await fees_of(client, target)
    assert fees["refunded"] == 400 * len(applied)
    assert 0 <= fees["merchant_fee_refunded"] <= fees["merchant_fee_charged"]

    total_fees = sum([await merchant_fees(db, s.merchant_id) for s in shops])
    assert await balance(db, "platform:fees") == total_fees
    cost = await channel_costs(db, "partner_bank")
    assert await balance(db, "channel:partner_bank:fees") == cost
    assert await balance(db, "channel:partner_bank:clearing") == (
        sum(amounts) - 400 * len(applied) - cost
    )
    debits, credits = await trial_balance(client)
    assert debits == credits
