"""Property: whatever sequence of captures, refunds and cancels a merchant sends, and
whichever answers the bank network loses, the payment's amounts stay within their bounds
and — once every outcome is known — the bank charged exactly what PayHub captured minus
refunded, and the merchant's ledger account says the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as steps
from payhub.payments.channels import use_channels
from payhub.vault import service as vault
from payhub.vault import testcards
from tests.payments.helpers import balance, channel_costs, merchant_fees
from tests.payments.test_unknown_outcomes import muffled_world

AMOUNT = 10_000
amounts = st.integers(min_value=1, max_value=AMOUNT + 500)
operations = st.one_of(
    st.tuples(st.just("capture"), st.one_of(st.none(), amounts)),
    st.tuples(st.just("refund"), st.one_of(st.none(), amounts)),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("lose"), st.sampled_from(["capture", "refund", "void"])),
    st.tuples(st.just("hear"), st.sampled_from(["capture", "refund", "void"])),
    st.tuples(st.just("deaf"), st.booleans()),
    st.tuples(st.just("resolve")),
)


async def _open(db: Database, capture_method: str) -> tuple[str, str]:
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
        payment = await steps.create_payment(
            session,
            merchant_id=merchant.id,
            amount=AMOUNT,
            currency="CNY",
            payment_method=card.token,
            capture_method=capture_method,
        )
        return merchant.id, payment.id

    return await db.run_in_transaction(tx)


async def _apply(db: Database, bank: Any, pid: str, op: tuple[Any, ...]) -> None:
    kind = op[0]
    try:
        if kind == "capture":
            await orchestrator.capture_payment(db, pid, None, op[1])
        elif kind == "refund":
            await orchestrator.refund_payment(db, payment_id=pid, merchant_id=None, amount=op[1])
        elif kind == "cancel":
            await orchestrator.cancel_payment(db, pid, None)
        elif kind == "lose":
            bank.lose.add(op[1])
        elif kind == "hear":
            bank.lose.discard(op[1])
        elif kind == "deaf":
            bank.deaf_queries = op[1]
        else:
            await orchestrator.resolve_in_flight(db, grace=timedelta(0))
    except PayHubError as refused:
        # Refusals the merchant may meet; anything else is a bug and fails the test.
        assert refused.spec.code in {
            "payment_unexpected_state",
            "payment_operation_in_progress",
            "capture_exceeds_authorized",
            "refund_exceeds_captured",
            "amount_invalid",
            "channel_error",
        }, refused


def _bounded(row: Any) -> None:
    assert 0 <= row.amount_captured + row.amount_capturable <= row.amount
    assert 0 <= row.amount_refunded <= row.amount_captured


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    capture_method=st.sampled_from(["manual", "automatic"]),
    ops=st.lists(operations, min_size=1, max_size=14),
)
async def test_any_sequence_ends_with_the_bank_and_the_books_agreeing(
    db: Database, capture_method: str, ops: list[tuple[Any, ...]]
) -> None:
    mapping = muffled_world()
    bank = mapping["partner_bank"]
    merchant_id, pid = await _open(db, capture_method)
    # The platform's and the channel's accounts are shared by every example's payment.
    fees_before = await balance(db, "platform:fees") or 0
    clearing_before = await balance(db, "channel:partner_bank:clearing") or 0
    cost_before = await channel_costs(db, "partner_bank")
    with use_channels(mapping):  # type: ignore[arg-type]
        await orchestrator.confirm_payment(db, pid, None)
        for op in ops:
            await _apply(db, bank, pid, op)
            row = await db.run_in_transaction(lambda s: steps.get_payment(s, pid, merchant_id=None))
            _bounded(row)
            if row.in_flight_attempt_id is None:
                charged = bank.inner.network.charged_for_payment(pid)
                assert charged == row.amount_captured - row.amount_refunded
        bank.lose, bank.deaf_queries = set(), False
        await orchestrator.resolve_in_flight(db, grace=timedelta(0))
    row = await db.run_in_transaction(lambda s: steps.get_payment(s, pid, merchant_id=None))
    assert row.in_flight_attempt_id is None
    _bounded(row)
    net = row.amount_captured - row.amount_refunded
    assert bank.inner.network.charged_for_payment(pid) == net
    # Less the fees the captures and refunds booked, which are never more than the money
    # captured nor returned beyond what was charged.
    fees = await merchant_fees(db, merchant_id)
    cost = await channel_costs(db, "partner_bank") - cost_before
    assert 0 <= fees <= row.amount_captured and cost >= 0
    assert (await balance(db, f"merchant:{merchant_id}:pending") or 0) == net - fees
    assert (await balance(db, "platform:fees") or 0) - fees_before == fees
    clearing = await balance(db, "channel:partner_bank:clearing") or 0
    assert clearing - clearing_before == net - cost
    if row.status == "canceled":
        assert row.amount_captured == 0
        assert bank.inner.network.authorizations(payment_id=pid)[0].voided
