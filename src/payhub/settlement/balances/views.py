"""A merchant's balances per currency: pending, available, reserved, in transit.

- pending: captured, not yet settled (posted balance of `merchant:<id>:pending`);
- available: withdrawable now (posted balance of `merchant:<id>:available` less the
  open holds on it);
- reserved: the rolling reserve (`merchant:<id>:reserve`);
- in transit: payouts sent and not yet confirmed paid. Payouts hold the money on the
  available account (a ledger two-phase hold) while the rail works, so what is in transit
  is the open holds' debits on available (`in_transit_of`, the one place to extend when
  payouts also track money elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.ledger import service as ledger
from payhub.ledger.service import BalanceView
from payhub.settlement.balances import journals


@dataclass(frozen=True, slots=True)
class MerchantBalance:
    currency: str
    pending: int
    available: int
    reserved: int
    in_transit: int


def in_transit_of(balances: dict[str, BalanceView]) -> int:
    """Money of the merchant on its way out: open holds against available."""
    available = balances.get("available")
    return available.debits_pending if available is not None else 0


async def merchant_balances(session: AsyncSession, merchant_id: str) -> list[MerchantBalance]:
    """One line per currency the merchant has money accounts in (sorted by currency)."""
    accounts, _ = await ledger.list_accounts(
        session, limit=100, code_prefix=f"merchant:{merchant_id}:"
    )
    result = []
    for currency in sorted({a.currency for a in accounts}):
        found = await journals.merchant_balances(session, merchant_id, currency)
        pending, available, reserve = (
            found.get("pending"),
            found.get("available"),
            found.get("reserve"),
        )
        result.append(
            MerchantBalance(
                currency=currency,
                pending=pending.posted if pending else 0,
                available=available.available if available else 0,
                reserved=reserve.posted if reserve else 0,
                in_transit=in_transit_of(found),
            )
        )
    return result
