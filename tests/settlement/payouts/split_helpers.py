"""A group leader with captured payments, and suppliers to split them to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.session import Database
from payhub.settlement.payouts import service as payouts
from payhub.vault import service as vault
from tests.payments.helpers import Shop, open_shop
from tests.settlement.payouts.helpers import Party, fund, open_party


@dataclass
class Leader:
    shop: Shop
    payee_id: str
    payments: list[str] = field(default_factory=list)

    @property
    def merchant_id(self) -> str:
        return self.shop.merchant_id


async def open_leader(
    db: Database,
    client: httpx.AsyncClient,
    as_key: Callable[[str], httpx.AsyncClient],
    amounts: list[int],
    *,
    round_tag: str | None = None,
) -> Leader:
    """A group leader whose customers paid `amounts` (captured), with that money in its
    available balance (as settlement would put it)."""
    shop = await open_shop(client, as_key, name="Community Leader")

    async def bind(session: AsyncSession) -> str:
        account, _ = await vault.bind_bank_account(
            session,
            merchant_id=shop.merchant_id,
            owner_ref=shop.merchant_id,
            bank_code="ICBC",
            account_number="6222020055556666",
            holder_name="Community Leader",
        )
        payee = await payouts.register_payee(
            session, merchant_id=shop.merchant_id, bank_account=account.token, role="group_leader"
        )
        return payee.id

    leader = Leader(shop, await db.run_in_transaction(bind))
    token, _ = await shop.card()
    for amount in amounts:
        extra = {"metadata": {"round": round_tag}} if round_tag else {}
        made = await shop.paid(token, amount, **extra)
        paid = await shop.me.post(f"/v1/payments/{made['id']}/confirm")
        assert paid.json()["status"] == "succeeded", paid.text
        leader.payments.append(made["id"])
    await fund(db, shop.merchant_id, sum(amounts))
    return leader


async def suppliers(db: Database, n: int, **extra: object) -> list[Party]:
    return [await open_party(db, f"Supplier {i}", **extra) for i in range(n)]  # type: ignore[arg-type]
