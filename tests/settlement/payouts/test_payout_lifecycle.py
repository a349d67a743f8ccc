"""Returns, sanctions, daily limits and the forward-only state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payhub.channels.base import ChannelAdapter, ChannelResult, ChannelStatus
from payhub.core import clock
from payhub.core.clock import FrozenClock
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.risk.sanctions import hits
from payhub.settlement.payouts import flow, service
from payhub.settlement.payouts.models import PAYOUT_STATUSES
from payhub.settlement.payouts.service import TRANSITIONS, PayoutOrder
from tests.settlement.payouts.helpers import (
    available,
    balance,
    count_rows,
    ledger_is_balanced,
    load_watch_list,
    network,
    open_party,
    rails_world,
)

NOON = datetime(2026, 12, 9, 4, 0, tzinfo=UTC)


def _order(party_merchant: str, payee: str, amount: int, instant: bool = True) -> PayoutOrder:
    return PayoutOrder(party_merchant, amount, "CNY", payee, instant=instant)


async def test_a_returned_payout_is_credited_back(
    db: Database, rails: dict[str, ChannelAdapter]
) -> None:
    shop = await open_party(db, funds=30_000)
    (row,) = await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 10_000))
    assert row.status == "paid"
    left = 30_000 - 10_000 - row.fee
    assert await flow.check_returns(db) == 0  # asked: not returned
    assert network(rails).inject_return("ibps", row.request_id)
    assert await flow.check_returns(db) == 0  # asked within the hour: not asked again
    with clock.use_clock(FrozenClock(clock.now() + timedelta(hours=2))):
        assert await flow.check_returns(db) == 1
    row = await db.run_in_transaction(lambda s: service.get_payout(s, row.id, merchant_id=None))
    assert row.status == "returned" and row.failure_code == "payout_returned"
    # The amount comes back; the instant fee is kept.
    assert await balance(db, f"merchant:{shop.merchant_id}:available") == left + 10_000
    assert await balance(db, "bank:custody") == 30_000
    assert await ledger_is_balanced(db)


async def test_the_simulator_returns_a_share_of_payouts_later() -> None:
    channels = rails_world(returns={"ibps": 1.0})
    with use_channels(channels), clock.use_clock(FrozenClock(NOON)) as moment:
        from payhub.channels.base import BankAccount, PayoutRequest

        request = PayoutRequest(
            "req_1", "po_1", "mer_1", 500, "CNY", BankAccount("ICBC", "6222020012345678", "A")
        )
        assert (await channels["ibps"].payout(request)).status is ChannelStatus.APPROVED
        assert (await channels["ibps"].query_payout("req_1")).status is ChannelStatus.APPROVED
        assert isinstance(moment, FrozenClock)
        moment.advance(timedelta(hours=1))
        later = await channels["ibps"].query_payout("req_1")
        assert later.status is ChannelStatus.DECLINED and later.raw_code == "RT"


async def test_a_sanctioned_beneficiary_is_blocked_until_cleared(db: Database) -> None:
    await load_watch_list(db, "Ivan Petrovich Sidorov")
    shop = await open_party(db, "Ivan Petrovich Sidorov", verified=False, funds=10_000)
    payee = await db.run_in_transaction(
        lambda s: service.get_payee(s, shop.payee_id, merchant_id=None)
    )
    assert payee.screening == "hit"
    with pytest.raises(PayHubError) as caught:
        await db.run_in_transaction(
            lambda s: service.mark_verified(s, shop.payee_id, by="operator")
        )
    assert caught.value.code == "payee_sanctions_hit"
    # Compliance clears the hit (not them): the payee may be verified and paid.
    (hit,) = (await db.run_in_transaction(
        lambda s: hits.list_hits(s, status="open", subject_id=shop.payee_id, limit=10)
    ))[0]  # fmt: skip
    await db.run_in_transaction(lambda s: hits.decide(s, hit.id, "cleared", reason="other man"))
    await db.run_in_transaction(lambda s: service.mark_verified(s, shop.payee_id, by="operator"))
    (row,) = await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 1_000))
    assert row.status == "paid"


async def test_a_hit_found_before_sending_fails_the_payout(db: Database) -> None:
    shop = await open_party(db, "Olga Nikolaevna Smirnova", funds=10_000)
    (row,) = await flow.create_and_send(
        db, _order(shop.merchant_id, shop.payee_id, 2_000, instant=False)
    )
    await load_watch_list(db, "Olga Nikolaevna Smirnova")  # listed after the payout was made
    assert await flow.dispatch(db) == 1
    row = await db.run_in_transaction(lambda s: service.get_payout(s, row.id, merchant_id=None))
    assert row.status == "failed" and row.failure_code == "payee_sanctions_hit"
    assert await available(db, shop.merchant_id) == 10_000
    # And it stays blocked for new payouts.
    with pytest.raises(PayHubError) as caught:
        await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 100))
    assert caught.value.code == "payee_sanctions_hit"


async def test_the_daily_limit_counts_the_payees_day(db: Database) -> None:
    with clock.use_clock(FrozenClock(NOON)) as moment:
        assert isinstance(moment, FrozenClock)
        shop = await open_party(db, funds=100_000, daily_limit=20_000)
        await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 15_000))
        before = await count_rows(db, "payouts", "ledger_holds")
        with pytest.raises(PayHubError) as caught:
            await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 5_001))
        assert caught.value.code == "payout_daily_limit_exceeded"
        assert await count_rows(db, "payouts", "ledger_holds") == before
        (row,) = await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 5_000))
        assert row.status == "paid"
        moment.advance(timedelta(hours=12))  # past midnight in China
        (row,) = await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 20_000))
        assert row.status == "paid"


def test_states_only_move_forward() -> None:
    order = {s: i for i, s in enumerate(PAYOUT_STATUSES)}
    for state, nexts in TRANSITIONS.items():
        for nxt in nexts:
            assert order[nxt] > order[state], (state, nxt)
    assert TRANSITIONS["failed"] == () and TRANSITIONS["returned"] == ()


async def test_a_settled_payout_ignores_late_answers(db: Database) -> None:
    shop = await open_party(db, funds=10_000)
    (row,) = await flow.create_and_send(db, _order(shop.merchant_id, shop.payee_id, 3_000))
    assert row.status == "paid"
    late = ChannelResult(ChannelStatus.DECLINED, raw_code="96")
    again = await db.run_in_transaction(lambda s: service.record_answer(s, row.id, late))
    assert again.status == "paid"
    # No way back to an earlier state, nor from paid to failed.
    with pytest.raises(PayHubError) as caught:
        service.move(again, "failed")
    assert caught.value.code == "payout_unexpected_state"
    with pytest.raises(PayHubError):
        service.move(again, "in_transit")
