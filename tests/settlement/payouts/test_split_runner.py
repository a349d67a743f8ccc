"""The split runner's set-based path: rail limits, a line refused alone, answers recorded in
bulk exactly as one by one, and instant payouts to the partner bank."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx

from payhub.channels.base import ChannelAdapter, ChannelResult, ChannelStatus, PayoutRequest
from payhub.db.session import Database
from payhub.events import service as events
from payhub.payments.channels import use_channels
from payhub.settlement.payouts import bulk, flow
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.config import PayoutConfig, use_config
from payhub.splits import runner, service
from payhub.splits.service import BatchOrder, LineIn
from tests.conftest import requires_postgres
from tests.settlement.payouts.helpers import (
    available,
    balance,
    ledger_is_balanced,
    load_watch_list,
    network,
    open_party,
    rails_world,
)
from tests.settlement.payouts.split_helpers import open_leader, suppliers

Client = Callable[[str], httpx.AsyncClient]


class Counting:
    """A rail that counts the calls it has in flight at once."""

    def __init__(self, inner: ChannelAdapter, peak: dict[str, int]) -> None:
        self.inner = inner
        self.peak = peak
        self.now = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        self.now += 1
        rail = self.inner.channel_id
        self.peak[rail] = max(self.peak[rail], self.now)
        try:
            await asyncio.sleep(0.02)
            return await self.inner.payout(request)
        finally:
            self.now -= 1


async def test_each_rail_keeps_at_most_its_limit_in_flight(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [20_000])
    receivers = await suppliers(db, 6) + [await open_party(db, "Partner Co", bank="PARTNER")]
    batch = await db.run_in_transaction(
        lambda s: service.create_batch(
            s,
            BatchOrder(
                leader.merchant_id,
                "CNY",
                [LineIn(r.payee_id, amount=1_000) for r in receivers],
                tuple(leader.payments),
            ),
        )
    )
    peak: dict[str, int] = defaultdict(int)
    counted = {rid: Counting(a, peak) for rid, a in rails_world().items()}
    limits = PayoutConfig(rail_concurrency={"ibps": 2, "partner_internal": 5})
    with use_channels(counted), use_config(limits):  # type: ignore[arg-type]
        done = await runner.run_batch(db, batch.id)
    assert (done.paid, done.failed, done.pending) == (7, 0, 0)
    assert peak["ibps"] == 2  # in parallel, never above the limit
    assert peak["partner_internal"] == 1
    assert limits.rail_limit("hvps") == limits.concurrency  # a rail not named
    assert await ledger_is_balanced(db)


async def test_a_line_refused_at_opening_fails_alone(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    good, listed = await open_party(db, "Honest Farm"), await open_party(db, "Ivan Petrov")
    batch = await db.run_in_transaction(
        lambda s: service.create_batch(
            s,
            BatchOrder(
                leader.merchant_id,
                "CNY",
                [LineIn(good.payee_id, amount=3_000), LineIn(listed.payee_id, amount=2_000)],
                tuple(leader.payments),
            ),
        )
    )
    # A watch list loaded after the batch: the beneficiary is screened again before sending.
    await load_watch_list(db, "Ivan Petrov")
    done = await runner.run_batch(db, batch.id)
    assert (done.paid, done.failed, done.pending) == (1, 1, 0)
    lines = await db.run_in_transaction(lambda s: service.get_lines(s, batch.id))
    assert [(ln.status, ln.failure_code, ln.attempts) for ln in lines] == [
        ("paid", None, 1),
        ("failed", "payee_sanctions_hit", 1),
    ]
    assert lines[1].payout_id is None  # nothing was sent, nothing reserved
    # The paid payout's every step wrote its event, in order.
    types = await _events_of(db, lines[0].payout_id or "")
    assert types == ["payout.created", "payout.in_transit", "payout.paid"]
    assert await available(db, listed.merchant_id) == 2_000
    assert await available(db, good.merchant_id) == 0
    assert await ledger_is_balanced(db)


async def _events_of(db: Database, payout_id: str) -> list[str]:
    async def read(session: Any) -> list[str]:
        views, _ = await events.list_events(session, merchant_id=None, limit=100)
        return [v.type for v in reversed(views) if v.data.get("id") == payout_id]

    return await db.run_in_transaction(read)


ANSWERS = [
    ChannelResult(ChannelStatus.APPROVED, channel_ref="r1"),
    ChannelResult(ChannelStatus.DECLINED, raw_code="51", raw_message="insufficient funds"),
    ChannelResult(ChannelStatus.NOT_FOUND),
    ChannelResult(ChannelStatus.DECLINED, raw_code="RT", channel_ref="r4"),
    ChannelResult(ChannelStatus.TIMEOUT),
    ChannelResult(ChannelStatus.APPROVED, channel_ref="r6"),
]


async def _started(db: Database, merchant_id: str, payee_id: str) -> list[str]:
    """Payouts of 1 000 to 6 000 committed `in_transit`, as before a rail call."""
    ids = []
    for n in range(len(ANSWERS)):
        order = payouts.PayoutOrder(merchant_id, 1_000 * (n + 1), "CNY", payee_id)
        (row,) = await db.run_in_transaction(lambda s, o=order: payouts.create_payouts(s, o))
        call = await db.run_in_transaction(lambda s, r=row.id: payouts.start_send(s, r))
        assert call is not None
        ids.append(row.id)
    return ids


async def test_answers_recorded_in_bulk_as_one_by_one(db: Database) -> None:
    one = await open_party(db, "One By One", funds=30_000)
    many = await open_party(db, "In Bulk", funds=30_000)
    singles = await _started(db, one.merchant_id, one.payee_id)
    bulks = await _started(db, many.merchant_id, many.payee_id)
    for payout_id, answer in zip(singles, ANSWERS, strict=True):
        await db.run_in_transaction(lambda s, p=payout_id, a=answer: payouts.record_answer(s, p, a))
    # The same answers, one transaction; one payout answered twice (a late repeat).
    chunk = [*zip(bulks, ANSWERS, strict=True), (bulks[0], ANSWERS[1])]
    rows = await db.run_in_transaction(lambda s: bulk.record_answers(s, chunk))
    assert [r.status for r in rows] == [
        "paid", "failed", "failed", "returned", "in_transit", "paid", "paid",
    ]  # fmt: skip

    def view(row: Any) -> tuple[Any, ...]:
        return (row.status, row.failure_code, row.rail_ref, row.last_answer, row.raw_code)

    async def rows_of(ids: list[str]) -> list[tuple[Any, ...]]:
        return [
            view(
                await db.run_in_transaction(
                    lambda s, p=p: payouts.get_payout(s, p, merchant_id=None)
                )
            )
            for p in ids
        ]

    assert await rows_of(bulks) == await rows_of(singles)
    assert await available(db, many.merchant_id) == await available(db, one.merchant_id)
    assert await balance(db, f"merchant:{many.merchant_id}:available") == await balance(
        db, f"merchant:{one.merchant_id}:available"
    )
    assert await ledger_is_balanced(db)


async def test_an_instant_payout_to_the_partner_bank_goes_on_its_rail(db: Database) -> None:
    shop = await open_party(db, "Partner Shop", bank="PARTNER", funds=100_000)
    order = payouts.PayoutOrder(shop.merchant_id, 50_000, "CNY", shop.payee_id, instant=True)
    (row,) = await flow.create_and_send(db, order)
    assert (row.rail, row.status, row.instant) == ("partner_internal", "paid", True)
    fee = payouts.instant_fee(50_000, PayoutConfig())
    assert row.fee == fee
    assert await available(db, shop.merchant_id) == 100_000 - 50_000 - fee
    assert await ledger_is_balanced(db)


@requires_postgres
async def test_two_runners_sharing_a_batch_pay_each_line_once(
    db: Database, client: httpx.AsyncClient, as_key: Client, rails: dict[str, ChannelAdapter]
) -> None:
    leader = await open_leader(db, client, as_key, [60_000])
    receivers = await suppliers(db, 50)
    batch = await db.run_in_transaction(
        lambda s: service.create_batch(
            s,
            BatchOrder(
                leader.merchant_id,
                "CNY",
                [LineIn(r.payee_id, amount=1_000) for r in receivers],
                tuple(leader.payments),
            ),
        )
    )
    await asyncio.gather(runner.run_batch(db, batch.id), runner.run_batch(db, batch.id))
    done = await runner.progress_of(db, batch.id)
    assert (done.paid, done.failed, done.pending) == (50, 0, 0)
    lines = await db.run_in_transaction(lambda s: service.get_lines(s, batch.id))
    assert all(ln.attempts == 1 and ln.status == "paid" for ln in lines)
    # One payout per line, each sent once: the rail saw exactly 50 requests.
    assert len({ln.payout_id for ln in lines}) == 50
    assert len(network(rails).payouts()) == 50
    for r in receivers:
        assert await available(db, r.merchant_id) == 0
    assert await ledger_is_balanced(db)
