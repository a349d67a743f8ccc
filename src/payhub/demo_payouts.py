"""Demo money going out, seeded with the demo shop on the first start, through the real
services (settlement, fees, payees, payouts, split batches) against the bank simulator:

- the demo shop settles in real time, keeping a 10 % rolling reserve for 7 days (set
  before its payments, so each capture is settled as it happens: `settle_shop`); its bank
  account at the partner bank is a verified payee, and one instant payout is paid from
  its available balance;
- a community group leader (团长) on its own fee plan, whose customers paid a round of
  group-buying orders, splits the round between two suppliers: the batch is booked, and
  both lines are paid out to the suppliers' banks.

The rails answer like banks: a payout the simulator refuses is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as payments
from payhub.settlement.balances import settings as settlement
from payhub.settlement.fees import service as fees
from payhub.settlement.payouts import flow
from payhub.settlement.payouts import service as payouts
from payhub.splits import runner
from payhub.splits import service as splits
from payhub.vault import service as vault
from payhub.vault import testcards

CNY = "CNY"
SHOP_SETTLEMENT = {"mode": "realtime", "reserve_bps": 1_000, "reserve_days": 7}
SHOP_ACCOUNT = "6230580000000001"  # at the partner bank, as every demo payee: instant rail
SHOP_PAYOUT = 20_000  # 200.00 CNY, or half the available balance when less
LEADER_NAME = "Demo community group leader"
LEADER_PLAN = "Community group buying"
LEADER_PLAN_RULES = [{"card_type": "debit", "bps": 38}, {"bps": 60}]
ROUND = "demo-round-1"
ROUND_ORDERS = (12_800, 9_900, 15_600)
SUPPLIERS = (
    ("Demo vegetable supplier", "6230580000000002", 4_000),  # name, account, share (bps)
    ("Demo fruit supplier", "6230580000000003", 3_500),
)
PLATFORM_COMMISSION_BPS = 100


@dataclass(frozen=True, slots=True)
class DemoPayouts:
    shop_payout: str | None  # the shop's instant payout and its status, if one was made
    shop_payout_status: str | None
    leader_id: str
    batch_id: str | None
    batch_status: str | None


async def settle_shop(session: AsyncSession, merchant_id: str) -> None:
    """Real-time settlement with a rolling reserve, before the shop's first capture."""
    await settlement.update_settings(session, merchant_id, dict(SHOP_SETTLEMENT))


async def _payee(session: AsyncSession, merchant_id: str, name: str, number: str, role: str) -> str:
    account, _ = await vault.bind_bank_account(
        session,
        merchant_id=merchant_id,
        owner_ref=merchant_id,
        bank_code="PARTNER",
        account_number=number,
        holder_name=name,
    )
    payee = await payouts.register_payee(
        session, merchant_id=merchant_id, bank_account=account.token, role=role
    )
    await payouts.mark_verified(session, payee.id, by="operator")
    return payee.id


async def _available(session: AsyncSession, merchant_id: str) -> int:
    account = await ledger.find_account(session, f"merchant:{merchant_id}:available", CNY)
    return 0 if account is None else (await ledger.get_balance(session, account.id)).available


async def _shop_payout(db: Database, merchant_id: str) -> tuple[str | None, str | None]:
    """The shop's payee and one instant withdrawal of part of what it may withdraw."""

    async def bind(session: AsyncSession) -> tuple[str, int]:
        payee = await _payee(session, merchant_id, "Demo noodle shop", SHOP_ACCOUNT, "merchant")
        return payee, await _available(session, merchant_id)

    payee, available = await db.run_in_transaction(bind)
    amount = min(SHOP_PAYOUT, available // 2)
    if amount < 1_000:
        return None, None  # the simulator declined the shop's payments: nothing to withdraw
    order = payouts.PayoutOrder(merchant_id, amount, CNY, payee, instant=True)
    try:
        (row,) = await flow.create_and_send(db, order)
    except PayHubError:
        return None, None
    return row.id, row.status


async def _open_leader(db: Database) -> tuple[str, list[str], list[str]]:
    """The leader (on its own fee plan, settled in real time), its customer's card, and
    the suppliers' payees."""
    year = datetime.now(UTC).year + 3

    async def make(session: AsyncSession) -> tuple[str, str, str, list[str]]:
        leader = await merchants.create_merchant(
            session, merchants.MerchantSpec(name=LEADER_NAME, daily_limit=10_000_000)
        )
        plan = await fees.create_plan(
            session, name=LEADER_PLAN, currency=CNY, rules=LEADER_PLAN_RULES, created_by="demo"
        )
        await fees.assign_plan(session, leader.id, plan.id)
        await settlement.update_settings(session, leader.id, {"mode": "realtime"})
        await _payee(session, leader.id, LEADER_NAME, "6230580000000009", "group_leader")
        customer = await merchants.create_customer(
            session, merchant_id=leader.id, name="李小红", home_region="CN-SH"
        )
        card, _ = await vault.bind_card(
            session,
            merchant_id=leader.id,
            customer_id=customer.id,
            pan=testcards.test_card("PARTNER", "debit"),
            exp_month=12,
            exp_year=year,
        )
        receivers = []
        for name, number, _ in SUPPLIERS:
            supplier = await merchants.create_merchant(session, merchants.MerchantSpec(name=name))
            receivers.append(await _payee(session, supplier.id, name, number, "supplier"))
        return leader.id, customer.id, card.token, receivers

    leader, customer, card, receivers = await db.run_in_transaction(make)
    paid = []
    for amount in ROUND_ORDERS:
        made = await db.run_in_transaction(
            lambda s, a=amount: payments.create_payment(  # type: ignore[misc]
                s,
                merchant_id=leader,
                customer_id=customer,
                amount=a,
                currency=CNY,
                payment_method=card,
                scene="group_buy",
                description="Demo group-buying order",
                metadata={"round": ROUND},
            )
        )
        step = await orchestrator.confirm_payment(db, made.id, leader)
        if step.payment.status == "succeeded":
            paid.append(made.id)
    return leader, paid, receivers


async def _split_round(db: Database) -> tuple[str, str | None, str | None]:
    leader, paid, receivers = await _open_leader(db)
    if not paid:
        return leader, None, None
    order = splits.BatchOrder(
        merchant_id=leader,
        currency=CNY,
        round=ROUND,
        lines=[
            splits.LineIn(payee, share_bps=share)
            for payee, (_, _, share) in zip(receivers, SUPPLIERS, strict=True)
        ],
        platform_commission=splits.Cut(bps=PLATFORM_COMMISSION_BPS),
    )
    try:
        batch = await db.run_in_transaction(lambda s: splits.create_batch(s, order))
    except PayHubError:
        return leader, None, None
    await runner.run_batch(db, batch.id)

    async def status(session: AsyncSession) -> str:
        lines = await splits.sync_lines(session, batch.id)
        return splits.batch_status(splits.summarize(lines))

    return leader, batch.id, await db.run_in_transaction(status)


async def seed_payouts(db: Database, shop_id: str) -> DemoPayouts:
    """The shop's payee and instant payout, the leader's split batch booked and paid."""
    payout, payout_status = await _shop_payout(db, shop_id)
    leader, batch, batch_status = await _split_round(db)
    return DemoPayouts(payout, payout_status, leader, batch, batch_status)
