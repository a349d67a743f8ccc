"""Demo data for the embedded start: a chart of accounts and a day of money movements,
so a new user sees a working ledger at once. Seeded only into an empty database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.ledger import service as ledger
from payhub.ledger.domain import JournalSpec, PostingSpec, Side

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
