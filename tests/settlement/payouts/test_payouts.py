"""Payouts: reservation, the rail's answer, the ledger, and the state machine."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from payhub.channels.base import ChannelAdapter
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.settlement.payouts import flow, service
from payhub.settlement.payouts.config import PayoutConfig
from payhub.settlement.payouts.service import PayoutOrder
from tests.settlement.payouts.helpers import (
    Unanswered,
    available,
    balance,
    count_rows,
    ledger_is_balanced,
    open_party,
    rails_world,
)


def _order(merchant_id: str, destination: str, amount: int, **extra: object) -> PayoutOrder:
    return PayoutOrder(
        merchant_id=merchant_id,
        amount=amount,
        currency="CNY",
        destination=destination,
        **extra,  # type: ignore[arg-type]
    )


async def test_an_instant_payout_is_paid_at_once_and_booked(db: Database) -> None:
    shop = await open_party(db, "Noodle Shop", funds=100_000)
    (paid,) = await flow.create_and_send(
        db, _order(shop.merchant_id, shop.payee_id, 20_000, instant=True)
    )
    assert paid.status == "paid" and paid.rail == "ibps" and paid.rail_ref
    fee = service.instant_fee(20_000, PayoutConfig())
    assert paid.fee == fee == 20 + 100
    assert await balance(db, f"merchant:{shop.merchant_id}:available") == 100_000 - 20_000 - fee
    assert await balance(db, "platform:fees") == fee
    assert await balance(db, "payout:ibps:in_transit") == 0
    assert await balance(db, "bank:custody") == 100_000 - 20_000
    assert await ledger_is_balanced(db)


async def test_a_standard_payout_waits_for_the_dispatcher(db: Database) -> None:
    shop = await open_party(db, funds=50_000)
    (made,) = await flow.create_and_send(db, _order(shop.merchant_id, shop.bank_account, 30_000))
    assert made.status == "pending" and made.fee == 0
    # Reserved, not yet spent: the rest stays withdrawable.
    assert await available(db, shop.merchant_id) == 20_000
    assert await balance(db, f"merchant:{shop.merchant_id}:available") == 50_000
    assert await flow.dispatch(db) == 1
    row = await db.run_in_transaction(lambda s: service.get_payout(s, made.id, merchant_id=None))
    assert row.status == "paid" and row.sent_at is not None and row.paid_at is not None
    assert await balance(db, f"merchant:{shop.merchant_id}:available") == 20_000


async def test_a_payout_beyond_the_available_balance_writes_nothing(db: Database) -> None:
    shop = await open_party(db, funds=10_000)
    before = await count_rows(db, "payouts", "ledger_journals", "events")
    with pytest.raises(PayHubError) as caught:
        await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 9_950, instant=True))
    assert caught.value.code == "insufficient_funds"  # 9 950 + the instant fee > 10 000
    assert await count_rows(db, "payouts", "ledger_journals", "events") == before


async def test_a_declined_payout_fails_and_releases_its_hold(
    db: Database, rails: Mapping[str, ChannelAdapter]
) -> None:
    with use_channels(rails_world(success={"ibps": 0.0})):
        shop = await open_party(db, funds=10_000)
        (row,) = await flow.create_and_send(
            db, _order(shop.merchant_id, shop.payee_id, 4_000, instant=True)
        )
    assert row.status == "failed" and row.failure_code in ("issuer_unavailable", "channel_error")
    assert row.failed_at is not None
    assert await available(db, shop.merchant_id) == 10_000
    assert await balance(db, "platform:fees") == 0
    assert await ledger_is_balanced(db)


async def test_a_timed_out_payout_is_resolved_by_query(
    db: Database, rails: dict[str, ChannelAdapter]
) -> None:
    quiet = Unanswered(rails["ibps"])
    with use_channels({**rails, "ibps": quiet}):
        shop = await open_party(db, funds=10_000)
        (row,) = await flow.create_and_send(
            db, _order(shop.merchant_id, shop.payee_id, 5_000, instant=True)
        )
        assert row.status == "in_transit" and row.last_answer == "timeout"
        assert await available(db, shop.merchant_id) == 10_000 - 5_000 - row.fee
        assert await flow.resolve(db) == 0  # the query goes unanswered too: left for later
        quiet.silent = False
        assert await flow.resolve(db) == 1
    row = await db.run_in_transaction(lambda s: service.get_payout(s, row.id, merchant_id=None))
    assert row.status == "paid"
    assert await balance(db, "bank:custody") == 10_000 - 5_000
    assert await ledger_is_balanced(db)
