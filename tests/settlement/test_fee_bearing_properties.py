"""Properties of settlement with fees charged: the built-in plan (0.6 %) or a random plan
(basis points, a fixed part, a minimum, a cap, fees returned on refunds or kept), the
channels' list-price costs, and random captures, refunds, clock moves and settlement runs
of a merchant settled in real time or T+1 with a random reserve:

- what was collected (captured − refunded) is exactly the merchant's balances plus the
  platform's fees from it, and, on the channel side, the clearing accounts plus the
  channels' fees;
- the merchant's available balance and reserve never go below zero;
- a refund never gives back more fee than the payment was charged;
- settlement moves exactly the net (collected less fees): what left pending is what the
  register recorded; a real-time merchant has nothing left pending after each step;
- once every reserve's time has come, reserves are released to the fen: the merchant's
  available balance is the whole net.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as steps
from payhub.settlement.balances import daily, entries, journals
from payhub.settlement.balances import settings as settlement_settings
from payhub.settlement.fees import service as fees
from payhub.vault import service as vault
from payhub.vault import testcards
from tests.settlement.helpers import beijing

rules = st.fixed_dictionaries(
    {"bps": st.integers(0, 300)},
    optional={
        "fixed": st.integers(0, 200),
        "minimum": st.integers(0, 300),
    },
)
plans = st.one_of(
    st.none(),  # the built-in default plan: 0.6 %
    st.tuples(
        rules.flatmap(
            lambda r: st.one_of(
                st.just(r),
                st.builds(lambda c: {**r, "cap": r.get("minimum", 0) + c}, st.integers(0, 5_000)),
            )
        ),
        st.sampled_from(["proportional", "none"]),
    ),
)
modes = st.tuples(
    st.sampled_from(["realtime", "t1"]),
    st.sampled_from([0, 1, 333, 1_000, 10_000]),  # reserve, basis points
    st.sampled_from([1, 3, 7]),  # reserve days
)
operations = st.one_of(
    st.tuples(st.just("pay"), st.integers(min_value=1, max_value=80_000)),
    st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20), st.floats(0.01, 1.0)),
    st.tuples(st.just("advance"), st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("run")),
)

_LEDGER_TOTALS = text(
    "SELECT a.code, SUM(CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END) "
    "FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
    "WHERE NOT e.pending AND e.currency = 'CNY' GROUP BY a.code"
)


async def _channel_books(db: Database) -> dict[str, int]:
    """Debit-side totals of the channels' clearing and fee accounts, and the platform's
    fees (credit side), over the whole ledger."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(_LEDGER_TOTALS)).all()
    totals: dict[str, int] = defaultdict(int)
    for code, net in rows:
        if code.startswith("channel:") and code.endswith(":clearing"):
            totals["clearing"] += int(net)
        elif code.startswith("channel:") and code.endswith(":fees"):
            totals["channel_fees"] += int(net)
        elif code == "platform:fees":
            totals["platform_fees"] -= int(net)
    return dict(totals)


async def _open(db: Database, plan: tuple[dict[str, int], str] | None) -> tuple[str, str]:
    async def tx(session: Any) -> tuple[str, str]:
        merchant = await merchants.create_merchant(session, merchants.MerchantSpec(name="Prop"))
        if plan is not None:
            made = await fees.create_plan(
                session,
                name="Random plan",
                currency="CNY",
                rules=[plan[0]],
                refund_policy=plan[1],
                created_by="tests",
            )
            await fees.assign_plan(session, merchant.id, made.id)
        card, _ = await vault.bind_card(
            session,
            merchant_id=merchant.id,
            customer_id=None,
            pan=testcards.test_card("ICBC", "credit"),  # through UnionPay: a channel cost
            exp_month=12,
            exp_year=datetime.now(UTC).year + 2,
        )
        return merchant.id, card.token

    return await db.run_in_transaction(tx)


async def _pay(db: Database, merchant_id: str, card: str, amount: int) -> str:
    payment = await db.run_in_transaction(
        lambda s: steps.create_payment(
            s,
            merchant_id=merchant_id,
            amount=amount,
            currency="CNY",
            payment_method=card,
            capture_method="automatic",
        )
    )
    step = await orchestrator.confirm_payment(db, payment.id, None)
    assert step.payment.status == "succeeded", step.payment
    return payment.id


async def _books(db: Database, merchant_id: str, payments: list[str]) -> dict[str, int]:
    async def read(session: Any) -> dict[str, int]:
        found = await journals.merchant_balances(session, merchant_id, "CNY")
        collected = fees_net = 0
        for pid in payments:
            row = await steps.get_payment(session, pid, merchant_id=None)
            collected += row.amount_captured - row.amount_refunded
            charged = returned = 0
            for journal in await steps.list_journals(session, pid, merchant_id=None):
                for line in journal.postings:
                    if line.account_code == "platform:fees":
                        if line.side.value == "credit":
                            charged += line.amount
                        else:
                            returned += line.amount
            # A refund never gives back more fee than the payment was charged.
            assert 0 <= returned <= charged, (pid, charged, returned)
            fees_net += charged - returned
        registered, _ = await entries.list_entries(session, merchant_id=merchant_id, limit=100)
        return {
            "pending": found["pending"].posted if "pending" in found else 0,
            "available": found["available"].posted if "available" in found else 0,
            "reserve": found["reserve"].posted if "reserve" in found else 0,
            "collected": collected,
            "fees": fees_net,
            "settled": sum(e.amount for e in registered),
        }

    books: dict[str, int] = await db.run_in_transaction(read)
    return books


def _check(books: dict[str, int], channel: dict[str, int], mode: str) -> None:
    merchant = books["pending"] + books["available"] + books["reserve"]
    assert merchant + books["fees"] == books["collected"]
    assert channel["platform_fees"] == books["fees"]
    assert channel["clearing"] + channel["channel_fees"] == books["collected"]
    assert books["available"] >= 0 and books["reserve"] >= 0
    net = books["collected"] - books["fees"]
    assert books["settled"] == net - books["pending"]
    if mode == "realtime":
        assert books["pending"] == 0


def _since(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {
        k: now.get(k, 0) - before.get(k, 0) for k in ("clearing", "channel_fees", "platform_fees")
    }


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans, mode=modes, ops=st.lists(operations, min_size=1, max_size=10))
async def test_fees_are_conserved_and_settlement_moves_exactly_the_net(
    db: Database,
    plan: tuple[dict[str, int], str] | None,
    mode: tuple[str, int, int],
    ops: list[tuple[Any, ...]],
) -> None:
    frozen = FrozenClock(beijing(2026, 3, 2, 9, 0))
    with use_clock(frozen):
        before = await _channel_books(db)
        merchant_id, card = await _open(db, plan)
        name, reserve_bps, reserve_days = mode
        changes = {"mode": name, "reserve_bps": reserve_bps, "reserve_days": reserve_days}
        await db.run_in_transaction(
            lambda s: settlement_settings.update_settings(s, merchant_id, changes)
        )
        payments: list[str] = []
        remaining: dict[str, int] = {}
        for op in ops:
            if op[0] == "pay":
                pid = await _pay(db, merchant_id, card, op[1])
                payments.append(pid)
                remaining[pid] = op[1]
            elif op[0] == "refund" and payments:
                pid = payments[op[1] % len(payments)]
                amount = max(1, int(remaining[pid] * op[2]))
                if remaining[pid] >= amount:
                    step = await orchestrator.refund_payment(
                        db, payment_id=pid, merchant_id=None, amount=amount
                    )
                    assert step.refund is not None and step.refund.status == "succeeded"
                    remaining[pid] -= amount
            elif op[0] == "advance":
                frozen.advance(timedelta(hours=op[1]))
            elif op[0] == "run":
                await daily.settle_due(db, merchant_ids=[merchant_id])
                await daily.release_due_reserves(db)
            books = await _books(db, merchant_id, payments)
            _check(books, _since(await _channel_books(db), before), name)

        # Every reserve's time comes (holidays included), and T+1 days are all run: the
        # whole net is available, to the fen.
        frozen.advance(timedelta(days=30))
        await daily.settle_due(db, merchant_ids=[merchant_id])  # the last T+1 days
        frozen.advance(timedelta(days=30))  # their reserves' time too
        await daily.settle_due(db, merchant_ids=[merchant_id])
        await daily.release_due_reserves(db)
        books = await _books(db, merchant_id, payments)
        _check(books, _since(await _channel_books(db), before), name)
        assert books["pending"] == 0 and books["reserve"] == 0
        assert books["available"] == books["collected"] - books["fees"]
