"""Split batches: validation that writes nothing, the atomic booking, payouts per line,
retries and clawback on refund."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from payhub.channels.base import ChannelAdapter
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.splits import runner, service
from payhub.splits.service import BatchOrder, Cut, LineIn
from tests.settlement.payouts.helpers import (
    available,
    balance,
    count_rows,
    ledger_is_balanced,
    open_party,
    rails_world,
)
from tests.settlement.payouts.split_helpers import Leader, open_leader, suppliers

Client = Callable[[str], httpx.AsyncClient]
TABLES = ("split_batches", "split_lines", "split_covers", "payouts", "ledger_journals", "events")


def _order(leader: Leader, lines: list[LineIn], **extra: object) -> BatchOrder:
    return BatchOrder(
        merchant_id=leader.merchant_id,
        currency="CNY",
        lines=lines,
        payments=tuple(leader.payments),
        **extra,  # type: ignore[arg-type]
    )


async def _create(db: Database, order: BatchOrder) -> str:
    batch = await db.run_in_transaction(lambda s: service.create_batch(s, order))
    return batch.id


async def test_a_batch_books_at_once_and_pays_every_receiver(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [30_000, 20_000])
    a, b = await suppliers(db, 2)
    order = _order(
        leader,
        [LineIn(a.payee_id, amount=20_000), LineIn(b.payee_id, share_bps=4_000)],
        platform_commission=Cut(bps=100),
        leader_commission=Cut(amount=5_000),
    )
    batch_id = await _create(db, order)
    # Booked at once: receivers credited, the platform's commission taken.
    assert await balance(db, f"merchant:{a.merchant_id}:available") == 20_000
    assert await balance(db, f"merchant:{b.merchant_id}:available") == 20_000
    assert await balance(db, "platform:fees") == 500
    assert await balance(db, f"merchant:{leader.merchant_id}:available") == 50_000 - 40_500
    done = await runner.run_batch(db, batch_id)
    assert (done.total, done.paid, done.failed, done.pending) == (2, 2, 0, 0)
    assert await balance(db, f"merchant:{a.merchant_id}:available") == 0
    transfers = await db.run_in_transaction(lambda s: service.batch_transfers(s, batch_id))
    assert [(t.receiver_name, t.bank_code, t.amount, t.status) for t in transfers] == [
        ("Supplier 0", "ICBC", 20_000, "paid"),
        ("Supplier 1", "ICBC", 20_000, "paid"),
    ]
    assert all(t.end_to_end_id.startswith("po_") for t in transfers)
    assert await ledger_is_balanced(db)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("over", "split_over_distribution"),
        ("unknown", "split_receiver_invalid"),
        ("unverified", "split_receiver_invalid"),
        ("duplicate", "split_receiver_invalid"),
        ("cap", "split_receiver_cap_exceeded"),
        ("currency", "split_payment_invalid"),
        ("foreign payment", "payment_not_found"),
        ("commission", "split_over_distribution"),
    ],
)
async def test_a_bad_batch_writes_nothing(
    db: Database, client: httpx.AsyncClient, as_key: Client, case: str, code: str
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (good,) = await suppliers(db, 1)
    lines = [LineIn(good.payee_id, amount=4_000)]
    extra: dict[str, object] = {}
    if case == "over":
        lines = [LineIn(good.payee_id, amount=10_001)]
    elif case == "unknown":
        lines.append(LineIn("pye_01M97DC3WE0MD7H9ACKEA220F5", amount=1))
    elif case == "unverified":
        lines.append(LineIn((await open_party(db, "New", verified=False)).payee_id, amount=1))
    elif case == "duplicate":
        lines.append(LineIn(good.payee_id, amount=1))
    elif case == "cap":
        lines.append(LineIn((await open_party(db, "Capped", split_cap=999)).payee_id, amount=1_000))
    elif case == "currency":
        extra["currency"] = "USD"
    elif case == "foreign payment":
        other = await open_leader(db, client, as_key, [500])
        extra["payments"] = (*leader.payments, *other.payments)
    elif case == "commission":
        extra["platform_commission"] = Cut(bps=6_001)
    order = _order(leader, lines)
    if extra:
        from dataclasses import replace

        order = replace(order, **extra)  # type: ignore[arg-type]
    before = await count_rows(db, *TABLES)
    with pytest.raises(PayHubError) as caught:
        await _create(db, order)
    assert caught.value.code == code
    assert await count_rows(db, *TABLES) == before
    assert await balance(db, f"merchant:{leader.merchant_id}:available") == 10_000


async def test_a_payment_is_split_once_and_only_by_a_leader(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (s,) = await suppliers(db, 1)
    await _create(db, _order(leader, [LineIn(s.payee_id, amount=1_000)]))
    with pytest.raises(PayHubError) as caught:
        await _create(db, _order(leader, [LineIn(s.payee_id, amount=1_000)]))
    assert caught.value.code == "split_payment_invalid"
    plain = await open_party(db, "Not A Leader", role="supplier")
    with pytest.raises(PayHubError) as caught:
        await _create(
            db, BatchOrder(plain.merchant_id, "CNY", [LineIn(s.payee_id, amount=1)], ("pay_x",))
        )
    assert caught.value.code == "split_not_group_leader"


async def test_a_round_tag_picks_the_payments(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [7_000, 3_000], round_tag="2026-w49")
    (s,) = await suppliers(db, 1)
    order = BatchOrder(leader.merchant_id, "CNY", [LineIn(s.payee_id, share_bps=10_000)],
                       round="2026-w49")  # fmt: skip
    batch_id = await _create(db, order)
    batch = await db.run_in_transaction(lambda s: service.get_batch(s, batch_id, merchant_id=None))
    assert batch.net_collected == 10_000 and batch.distributed == 10_000


async def test_failed_lines_are_retried(
    db: Database, client: httpx.AsyncClient, as_key: Client, rails: dict[str, ChannelAdapter]
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    a, b = await suppliers(db, 2)
    batch_id = await _create(
        db, _order(leader, [LineIn(a.payee_id, amount=3_000), LineIn(b.payee_id, amount=2_000)])
    )
    with use_channels(rails_world(success={"ibps": 0.0})):
        done = await runner.run_batch(db, batch_id)
    assert (done.paid, done.failed) == (0, 2)
    # The money went back to the receivers' balances, ready for another try.
    assert await available(db, a.merchant_id) == 3_000
    assert (
        await db.run_in_transaction(
            lambda s: service.retry_failed(s, batch_id, merchant_id=leader.merchant_id)
        )
        == 2
    )
    done = await runner.run_batch(db, batch_id)
    assert (done.paid, done.failed, done.pending) == (2, 0, 0)
    lines = await db.run_in_transaction(lambda s: service.get_lines(s, batch_id))
    assert [ln.attempts for ln in lines] == [2, 2]


async def test_a_refund_claws_back_proportionally(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [10_000, 10_000])
    a, b = await suppliers(db, 2)
    batch_id = await _create(
        db,
        _order(
            leader,
            [LineIn(a.payee_id, amount=10_000), LineIn(b.payee_id, amount=5_000)],
            platform_commission=Cut(amount=2_000),
        ),
    )
    leader_before = await balance(db, f"merchant:{leader.merchant_id}:available")
    # b withdraws everything first: its share cannot be taken back.
    await runner.run_batch(db, batch_id)  # both paid out
    from tests.settlement.payouts.helpers import fund

    await fund(db, a.merchant_id, 10_000)  # a has money again
    refund = await leader.shop.me.post(
        "/v1/refunds", json={"payment": leader.payments[0], "amount": 4_000}
    )
    assert refund.status_code == 201, refund.text
    # a gives back 4 000 × 10 000 / 20 000, b would give 1 000 but has nothing; the
    # platform gives 400.
    assert await balance(db, f"merchant:{a.merchant_id}:available") == 10_000 - 2_000
    assert await balance(db, f"merchant:{leader.merchant_id}:available") == leader_before + 2_400
    lines = await db.run_in_transaction(lambda s: service.get_lines(s, batch_id))
    assert [(ln.clawed_back, ln.clawback_outstanding) for ln in lines] == [(2_000, 0), (0, 1_000)]
    batch = await db.run_in_transaction(lambda s: service.get_batch(s, batch_id, merchant_id=None))
    assert batch.clawed_back == 2_400
    assert await ledger_is_balanced(db)


async def test_leader_only_clawback_leaves_receivers_alone(
    db: Database, client: httpx.AsyncClient, as_key: Client
) -> None:
    leader = await open_leader(db, client, as_key, [10_000])
    (a,) = await suppliers(db, 1)
    await _create(db, _order(leader, [LineIn(a.payee_id, amount=6_000)], clawback="leader_only"))
    refund = await leader.shop.me.post("/v1/refunds", json={"payment": leader.payments[0]})
    assert refund.status_code == 201, refund.text
    assert await balance(db, f"merchant:{a.merchant_id}:available") == 6_000
