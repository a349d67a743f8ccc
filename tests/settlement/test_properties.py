"""Property: whatever sequence of captures, refunds, mode and reserve changes, clock moves
and settlement runs a merchant goes through, its money is conserved —

    pending + available + reserve = captured − refunded − merchant fees

— available and reserve never go below zero, and the settlement register accounts for
exactly what left pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as steps
from payhub.settlement.balances import daily, entries, journals
from payhub.settlement.balances import settings as settlement_settings
from payhub.vault import service as vault
from payhub.vault import testcards
from tests.settlement.helpers import beijing

operations = st.one_of(
    st.tuples(st.just("pay"), st.integers(min_value=1, max_value=50_000)),
    st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20), st.floats(0.01, 1.0)),
    st.tuples(st.just("advance"), st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("run")),
    st.tuples(
        st.just("settings"),
        st.sampled_from(["realtime", "t1"]),
        st.sampled_from([0, 1, 500, 10_000]),
        st.sampled_from(["23:00", "00:00", "12:30"]),
    ),
)


async def _open(db: Database) -> tuple[str, str]:
    async def tx(session: Any) -> tuple[str, str]:
        merchant = await merchants.create_merchant(session, merchants.MerchantSpec(name="Prop"))
        card, _ = await vault.bind_card(
            session,
            merchant_id=merchant.id,
            customer_id=None,
            pan=testcards.test_card("PARTNER", "debit"),
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
        captured = refunded = fees = 0
        for pid in payments:
            row = await steps.get_payment(session, pid, merchant_id=None)
            captured += row.amount_captured
            refunded += row.amount_refunded
            for journal in await steps.list_journals(session, pid, merchant_id=None):
                for line in journal.postings:
                    if line.account_code == "platform:fees":
                        fees += line.amount if line.side.value == "credit" else -line.amount
        registered, _ = await entries.list_entries(session, merchant_id=merchant_id, limit=100)
        return {
            "pending": found["pending"].posted if "pending" in found else 0,
            "available": found["available"].posted if "available" in found else 0,
            "reserve": found["reserve"].posted if "reserve" in found else 0,
            "owed": captured - refunded - fees,
            "settled": sum(e.amount for e in registered),
            "entries": len(registered),
        }

    books: dict[str, int] = await db.run_in_transaction(read)
    return books


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=12))
async def test_money_is_conserved_whatever_the_sequence(
    db: Database, ops: list[tuple[Any, ...]]
) -> None:
    frozen = FrozenClock(beijing(2026, 2, 12, 9, 0))  # into the Spring Festival holidays
    with use_clock(frozen):
        merchant_id, card = await _open(db)
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
            elif op[0] == "settings":
                changes = {
                    "mode": op[1],
                    "reserve_bps": op[2],
                    "reserve_days": 2 if op[2] else 0,
                    "cutoff": op[3],
                }
                await db.run_in_transaction(
                    lambda s, c=changes: settlement_settings.update_settings(  # type: ignore[misc]
                        s, merchant_id, c
                    )
                )
            books = await _books(db, merchant_id, payments)
            assert books["pending"] + books["available"] + books["reserve"] == books["owed"]
            assert books["available"] >= 0 and books["reserve"] >= 0
            assert books["settled"] == books["owed"] - books["pending"]
        # A run repeated at the same moment moves nothing more.
        await daily.settle_due(db, merchant_ids=[merchant_id])
        before = await _books(db, merchant_id, payments)
        await daily.settle_due(db, merchant_ids=[merchant_id])
        assert await _books(db, merchant_id, payments) == before
