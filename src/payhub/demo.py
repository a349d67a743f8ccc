"""Demo data for the embedded start, seeded only into an empty database:

- a chart of accounts and a day of money movements, so a new user sees a working ledger;
- a demo shop — a real merchant with a key, customers, cards bound in the vault and a few
  payments of every scene taken through the real flows against the bank-network simulator
  (captured, partly captured, refunded, held, awaiting confirmation), so the payment API
  has something to show;
- its money going out (`demo_payouts`): real-time settlement with a reserve, a verified
  payee and an instant payout, and a group leader's split batch to two suppliers, booked
  and paid.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.auth.service import IssuedKey
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.demo_payouts import DemoPayouts, seed_payouts, settle_shop
from payhub.ledger import service as ledger
from payhub.ledger.domain import JournalSpec, PostingSpec, Side
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as payments
from payhub.vault import service as vault
from payhub.vault import testcards

CNY = "CNY"
MERCHANT = "mer_demo_noodles"

CHART: list[tuple[str, Side, str, bool, int]] = [
    # code, normal side, name, debits must not exceed credits, shards
    ("bank:custody", Side.DEBIT, "Custody account at the partner bank", False, 1),
    ("channel:partner_bank:clearing", Side.DEBIT, "Partner bank channel clearing", False, 1),
    ("channel:unionpay_quick:clearing", Side.DEBIT, "UnionPay quick pay clearing", False, 1),
    ("channel:unionpay_quick:fees", Side.DEBIT, "Fees charged by UnionPay quick pay", False, 1),
    ("platform:fees", Side.CREDIT, "Platform fee revenue (hot, sharded)", False, 16),
    (f"merchant:{MERCHANT}:pending", Side.CREDIT, "Demo noodle shop, unsettled", True, 1),
    (f"merchant:{MERCHANT}:available", Side.CREDIT, "Demo noodle shop, available", True, 1),
    ("payout:ibps:in_transit", Side.DEBIT, "Payouts sent over IBPS, unconfirmed", False, 1),
]


def _p(account: str, side: Side, amount: int) -> PostingSpec:
    return PostingSpec(account, side, amount, CNY)


async def is_seeded(session: AsyncSession) -> bool:
    return await ledger.find_account(session, "bank:custody", CNY) is not None


async def seed(session: AsyncSession) -> int:
    """Open the demo chart and post a few journals; returns how many journals were posted."""
    for code, side, name, no_overdraft, shards in CHART:
        await ledger.ensure_account(
            session,
            ledger.AccountSpec(
                code=code,
                currency=CNY,
                normal_side=side,
                name=name,
                owner=MERCHANT if code.startswith("merchant:") else "platform",
                debits_must_not_exceed_credits=no_overdraft,
                shards=shards,
            ),
        )
    pending = f"merchant:{MERCHANT}:pending"
    available = f"merchant:{MERCHANT}:available"
    journals = [
        # A 35.00 CNY bowl of noodles captured through UnionPay; the platform keeps 0.6%.
        JournalSpec(
            id="demo-capture-1",
            description="Capture of a 35.00 CNY payment",
            postings=(
                _p("channel:unionpay_quick:clearing", Side.DEBIT, 3500),
                _p(pending, Side.CREDIT, 3479),
                _p("platform:fees", Side.CREDIT, 21),
            ),
        ),
        JournalSpec(
            id="demo-capture-2",
            description="Capture of a 128.00 CNY payment",
            postings=(
                _p("channel:partner_bank:clearing", Side.DEBIT, 12800),
                _p(pending, Side.CREDIT, 12723),
                _p("platform:fees", Side.CREDIT, 77),
            ),
        ),
        JournalSpec(
            id="demo-channel-settlement-1",
            description="UnionPay settles to custody, net of its 0.35% fee",
            postings=(
                _p("bank:custody", Side.DEBIT, 3488),
                _p("channel:unionpay_quick:fees", Side.DEBIT, 12),
                _p("channel:unionpay_quick:clearing", Side.CREDIT, 3500),
            ),
        ),
        JournalSpec(
            id="demo-merchant-settlement-1",
            description="Real-time settlement of the first payment (the second stays pending)",
            postings=(_p(pending, Side.DEBIT, 3479), _p(available, Side.CREDIT, 3479)),
        ),
    ]
    await ledger.post_journals(session, journals, allow_linked=False)
    return len(journals)


# ------------------------------------------------------------------------------ demo shop

SHOP_NAME = "Demo noodle shop"


@dataclass(frozen=True, slots=True)
class DemoPayment:
    issuer: str
    card_type: str
    amount: int
    scene: str
    capture: str  # automatic | manual
    then: str  # what follows: nothing | capture | capture_part | refund_part | leave


DEMO_PAYMENTS = (
    DemoPayment("PARTNER", "debit", 3500, "food_delivery", "automatic", "nothing"),
    DemoPayment("ICBC", "credit", 5850, "food_delivery", "automatic", "nothing"),
    DemoPayment("CCB", "debit", 19900, "group_buy", "manual", "capture"),
    DemoPayment("CMB", "credit", 8800, "group_buy", "manual", "capture_part"),
    DemoPayment("ABC", "debit", 12800, "local_services", "automatic", "refund_part"),
    DemoPayment("BOC", "credit", 32000, "cross_border", "automatic", "nothing"),
    DemoPayment("PARTNER", "credit", 6600, "local_services", "manual", "leave"),
    DemoPayment("SPDB", "debit", 2400, "food_delivery", "automatic", "unconfirmed"),
)


@dataclass(frozen=True, slots=True)
class DemoShop:
    merchant_id: str
    key: IssuedKey
    statuses: dict[str, int]
    money_out: DemoPayouts


async def seed_shop(db: Database) -> DemoShop:
    """The demo shop and its payments, through the same flows the API uses."""
    year = datetime.now(UTC).year + 3

    async def open_shop(session: AsyncSession) -> tuple[str, IssuedKey, str, list[str]]:
        merchant = await merchants.create_merchant(
            session, merchants.MerchantSpec(name=SHOP_NAME, daily_limit=10_000_000)
        )
        await settle_shop(session, merchant.id)
        key = await merchants.issue_merchant_key(
            session, merchant.id, name="demo checkout", scopes=["read", "write", "refunds"]
        )
        customer = await merchants.create_customer(
            session, merchant_id=merchant.id, name="王小明", home_region="CN-SH"
        )
        tokens = []
        for spec in DEMO_PAYMENTS:
            card, _ = await vault.bind_card(
                session,
                merchant_id=merchant.id,
                customer_id=customer.id,
                pan=testcards.test_card(spec.issuer, spec.card_type),
                exp_month=12,
                exp_year=year,
            )
            tokens.append(card.token)
        return merchant.id, key, customer.id, tokens

    merchant_id, key, customer_id, tokens = await db.run_in_transaction(open_shop)
    for spec, token in zip(DEMO_PAYMENTS, tokens, strict=True):
        await _demo_payment(db, merchant_id, customer_id, token, spec)

    async def count(session: AsyncSession) -> dict[str, int]:
        rows, _ = await payments.list_payments(
            session, payments.PaymentFilter(merchant_id=merchant_id), limit=100, starting_after=None
        )
        return dict(Counter(row.status for row in rows))

    statuses = await db.run_in_transaction(count)
    return DemoShop(merchant_id, key, statuses, await seed_payouts(db, merchant_id))


async def _demo_payment(
    db: Database, merchant_id: str, customer_id: str, token: str, spec: DemoPayment
) -> None:
    made = await db.run_in_transaction(
        lambda s: payments.create_payment(
            s,
            merchant_id=merchant_id,
            customer_id=customer_id,
            amount=spec.amount,
            currency=CNY,
            payment_method=token,
            capture_method=spec.capture,
            scene=spec.scene,
            description=f"Demo {spec.scene.replace('_', ' ')} order",
        )
    )
    if spec.then == "unconfirmed":
        return
    step = await orchestrator.confirm_payment(db, made.id, merchant_id)
    status = step.payment.status
    # The simulator's world decides like a bank: a declined demo payment (or a capture or
    # refund the channel refuses) is left as it is.
    try:
        if spec.then == "capture" and status == "requires_capture":
            await orchestrator.capture_payment(db, made.id, merchant_id)
        elif spec.then == "capture_part" and status == "requires_capture":
            await orchestrator.capture_payment(db, made.id, merchant_id, spec.amount * 2 // 3)
        elif spec.then == "refund_part" and status == "succeeded":
            await orchestrator.refund_payment(
                db, payment_id=made.id, merchant_id=merchant_id, amount=spec.amount // 4
            )
    except PayHubError:
        pass
