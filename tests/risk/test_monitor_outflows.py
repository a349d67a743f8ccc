"""Money leaving the platform reaches the monitor: payouts paid or returned and split
batches booked through the real services become edges after the cursor, the payout
typologies raise stored alerts on them, and the cursor processes each event once (a second
round and a restarted process raise nothing again)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelAdapter
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.payments.channels import use_channels
from payhub.risk.cases import alerts
from payhub.risk.monitoring import consumer as monitoring
from payhub.risk.monitoring.consumer import MonitorConsumer, Round
from payhub.risk.sanctions import screening
from payhub.settlement.payouts import flow
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.config import PayoutConfig, use_config
from payhub.splits import runner
from payhub.splits import service as splits
from payhub.splits.service import BatchOrder, LineIn
from payhub.vault import service as vault
from tests.payments.helpers import static_routing
from tests.settlement.helpers import no_fee_by_default
from tests.settlement.payouts.helpers import fund, network, open_party, rails_world
from tests.settlement.payouts.split_helpers import open_leader

Client = Callable[[str], httpx.AsyncClient]
YUAN = 100
SHARED_NUMBER = "6222020012340001"


@pytest.fixture(autouse=True)
def rails() -> Iterator[dict[str, ChannelAdapter]]:
    with static_routing(), use_channels(rails_world()) as installed:
        yield dict(installed)


@pytest.fixture(autouse=True)
def payout_config() -> Iterator[PayoutConfig]:
    screening.forget_index()
    with use_config(PayoutConfig()) as config:
        yield config
    screening.forget_index()


@pytest.fixture(autouse=True)
async def _no_merchant_fee(db: Database) -> None:
    await no_fee_by_default(db)


def _consumer(db: Database) -> MonitorConsumer:
    return MonitorConsumer(db, settle=timedelta(0))


async def _stored(db: Database) -> list[alerts.AlertView]:
    found, _ = await db.transact(
        lambda sql: alerts.list_alerts(
            sql, alerts.AlertFilter(source="monitoring"), limit=100, starting_after=None
        )
    )
    return found


async def _merchant_on_shared_account(db: Database, name: str) -> str:
    """A merchant whose payee is the one bank account several merchants bound."""

    async def make(session: AsyncSession) -> str:
        merchant = await merchants.create_merchant(session, merchants.MerchantSpec(name=name))
        account, _ = await vault.bind_bank_account(
            session,
            merchant_id=merchant.id,
            owner_ref=merchant.id,
            bank_code="ICBC",
            account_number=SHARED_NUMBER,
            holder_name="Li Hua",
        )
        payee = await payouts.register_payee(
            session, merchant_id=merchant.id, bank_account=account.token
        )
        await payouts.mark_verified(session, payee.id, by="operator")
        return merchant.id

    merchant_id = await db.run_in_transaction(make)
    await fund(db, merchant_id, 5_000 * YUAN)
    return merchant_id


async def _withdraw(db: Database, merchant_id: str, amount: int) -> str:
    async def destination(session: AsyncSession) -> str:
        found, _ = await payouts.list_payees(session, merchant_id=merchant_id, limit=1)
        return found[0].id

    order = payouts.PayoutOrder(
        merchant_id=merchant_id,
        amount=amount,
        currency="CNY",
        destination=await db.run_in_transaction(destination),
        instant=True,
    )
    (paid,) = await flow.create_and_send(db, order)
    assert paid.status == "paid"
    return paid.id


async def test_withdrawals_of_three_merchants_into_one_account_raise_one_alert(
    db: Database,
) -> None:
    shops = [await _merchant_on_shared_account(db, f"Shop {n}") for n in range(3)]
    paid = [await _withdraw(db, m, 1_000 * YUAN) for m in shops]
    job = _consumer(db)

    first = await job.run()
    assert (first.events, first.transactions) == (3, 3)
    [alert] = await _stored(db)
    assert alert.typology == "shared_payout_account"
    assert alert.subject_type == "account" and alert.subject_id.startswith("ba:")
    assert SHARED_NUMBER not in alert.subject_id  # a keyed fingerprint, never the number
    assert alert.transaction_ids == paid
    assert {e["source"] for e in alert.evidence["edges"]} == set(shops)
    assert {e["kind"] for e in alert.evidence["edges"]} == {"payout"}

    # Processed once: nothing new, nothing written.
    assert await job.run() == Round()
    restarted = _consumer(db)
    again = await restarted.run()
    assert (again.replayed, again.events, again.alerts_raised) == (3, 0, 0)
    assert len(await _stored(db)) == 1

    # A fourth merchant on the account: the stored alert grows, no second one.
    fourth = await _merchant_on_shared_account(db, "Shop 3")
    more = await _withdraw(db, fourth, 1_000 * YUAN)
    grown = await restarted.run()
    assert (grown.events, grown.alerts_raised, grown.alerts_revised) == (1, 0, 1)
    [revised] = await _stored(db)
    assert revised.id == alert.id and revised.transaction_ids == [*paid, more]


async def test_a_returned_payout_is_an_edge_back_to_the_merchant(
    db: Database, rails: dict[str, ChannelAdapter]
) -> None:
    party = await open_party(db, "Solo Shop", funds=3_000 * YUAN)
    order = payouts.PayoutOrder(
        merchant_id=party.merchant_id,
        amount=2_000 * YUAN,
        currency="CNY",
        destination=party.payee_id,
        instant=True,
    )
    (paid,) = await flow.create_and_send(db, order)
    assert network(rails).inject_return(paid.rail, paid.request_id)
    assert await flow.check_returns(db, config=PayoutConfig(return_check_every_s=0)) == 1

    async def feed(session: AsyncSession) -> list[object]:
        sql = await monitoring.Sql.of(session)
        rows = await sql.all(monitoring._FEED, after="", upto="evt_~", limit=100)
        return [t for r in rows for t in await monitoring.transactions_of(sql, r)]

    edges = await db.run_in_transaction(feed)
    out, back = edges
    assert (out.kind, out.source, out.amount, out.id) == (  # type: ignore[attr-defined]
        "payout",
        party.merchant_id,
        2_000 * YUAN,
        paid.id,
    )
    assert out.target.startswith("ba:")  # type: ignore[attr-defined]
    assert (back.kind, back.source, back.target, back.id) == (  # type: ignore[attr-defined]
        "payout_return",
        out.target,  # type: ignore[attr-defined]
        party.merchant_id,
        f"{paid.id}:returned",
    )
    assert (await _consumer(db).run()).transactions == 2


async def test_a_split_batch_giving_most_of_the_round_to_a_fresh_receiver_raises_an_alert(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [6_000 * YUAN, 4_000 * YUAN])
    known = await open_party(db, "Old Orchard")
    fresh = await open_party(db, "Fresh Farm")  # bound just now
    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        payments=tuple(leader.payments),
        lines=[
            LineIn(known.payee_id, amount=1_500 * YUAN),
            LineIn(fresh.payee_id, share_bps=8_000),
        ],
    )
    batch = await db.run_in_transaction(lambda s: splits.create_batch(s, order))
    job = _consumer(db)
    first = await job.run()
    # Two payments of the leader's customers, the batch's two lines.
    assert (first.events, first.transactions) == (3, 4)
    [alert] = await _stored(db)
    assert (alert.typology, alert.subject_type, alert.subject_id) == (
        "split_to_new_receiver",
        "merchant",
        leader.merchant_id,
    )
    lines = await db.run_in_transaction(lambda s: splits.get_lines(s, batch.id))
    assert alert.transaction_ids == [lines[1].id]
    assert "80%" in alert.explanation

    # The lines paid on to the receivers' banks: split payouts, processed once.
    await runner.run_batch(db, batch.id)
    paid_on = await job.run()
    assert (paid_on.events, paid_on.transactions, paid_on.alerts_raised) == (2, 2, 0)
    assert await job.run() == Round()
    assert len(await _stored(db)) == 1


async def test_a_batch_sharing_the_round_among_receivers_raises_nothing(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [6_000 * YUAN, 4_000 * YUAN])
    # Bound just now too, but none given most of the round.
    a, b = await open_party(db, "Old Orchard"), await open_party(db, "Old Dairy")
    order = BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        payments=tuple(leader.payments),
        lines=[LineIn(a.payee_id, share_bps=4_000), LineIn(b.payee_id, share_bps=4_000)],
    )
    await db.run_in_transaction(lambda s: splits.create_batch(s, order))
    assert (await _consumer(db).run()).alerts_raised == 0
    assert await _stored(db) == []
