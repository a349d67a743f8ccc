"""Shops that capture, and reading their balances and settlements, for settlement tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from payhub.core.clock import FrozenClock, use_clock
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.settlement.fees import service as fees
from tests.payments.helpers import Shop, open_shop

BEIJING = timezone(timedelta(hours=8))


def beijing(*parts: int) -> datetime:
    """A Beijing wall-clock time as a UTC instant."""
    return datetime(*parts, tzinfo=BEIJING).astimezone(UTC)  # type: ignore[misc]


class Merchant:
    def __init__(self, shop: Shop, token: str, client: httpx.AsyncClient) -> None:
        self.shop = shop
        self.token = token
        self.client = client  # the operator
        self.id = shop.merchant_id

    async def capture(self, amount: int) -> dict[str, Any]:
        made = await self.shop.paid(self.token, amount)
        answer = await self.shop.me.post(f"/v1/payments/{made['id']}/confirm")
        assert answer.status_code == 200, answer.text
        payment: dict[str, Any] = answer.json()
        assert payment["status"] == "succeeded", payment
        return payment

    async def refund(self, payment: dict[str, Any], amount: int) -> dict[str, Any]:
        answer = await self.shop.me.post(
            "/v1/refunds", json={"payment": payment["id"], "amount": amount}
        )
        assert answer.status_code == 201, answer.text
        refund: dict[str, Any] = answer.json()
        assert refund["status"] == "succeeded", refund
        return refund

    async def configure(self, **fields: Any) -> dict[str, Any]:
        answer = await self.client.post(f"/v1/settlement_settings/{self.id}", json=fields)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def balances(self) -> dict[str, int]:
        """CNY balances as the merchant sees them."""
        answer = await self.shop.me.get("/v1/balances")
        assert answer.status_code == 200, answer.text
        lines = {line["currency"]: line for line in answer.json()["data"]}
        line = lines.get("CNY", {"pending": 0, "available": 0, "reserved": 0, "in_transit": 0})
        return {k: line[k] for k in ("pending", "available", "reserved", "in_transit")}

    async def settlements(self, **params: Any) -> list[dict[str, Any]]:
        answer = await self.shop.me.get("/v1/settlements", params={"limit": 100, **params})
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        return data


async def open_merchant(
    client: httpx.AsyncClient, as_key: Any, *, fee_free: bool = True, **settings: Any
) -> Merchant:
    """A merchant paying with a partner-bank debit card; by default on a plan that charges
    no fee, so settled amounts are the captured ones (`fee_free=False`: the default plan)."""
    shop = await open_shop(client, as_key)
    if fee_free:
        plan = await client.post(
            "/v1/fee_plans", json={"name": "No fee", "currency": "CNY", "rules": [{"bps": 0}]}
        )
        assert plan.status_code == 201, plan.text
        assigned = await client.post(
            f"/v1/merchants/{shop.merchant_id}/fee_plan", json={"fee_plan": plan.json()["id"]}
        )
        assert assigned.status_code == 200, assigned.text
    token, _ = await shop.card("PARTNER", "debit")
    merchant = Merchant(shop, token, client)
    if settings:
        await merchant.configure(**settings)
    return merchant


async def run(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/v1/settlements/run", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def posted(db: Database, code: str, currency: str = "CNY") -> int:
    async def read(session: Any) -> int:
        account = await ledger.find_account(session, code, currency)
        return 0 if account is None else (await ledger.get_balance(session, account.id)).posted

    result: int = await db.run_in_transaction(read)
    return result


def at(frozen: FrozenClock, moment: datetime) -> None:
    frozen.set(moment)


async def no_fee_by_default(db: Database) -> None:
    """Make the platform's default plan charge nothing, in force since long before any
    test's clock: collected money is then exactly what was paid (fees have their tests)."""
    with use_clock(FrozenClock(datetime(2020, 1, 1, tzinfo=UTC))):
        await db.run_in_transaction(
            lambda s: fees.create_plan(
                s, name="No fee", currency="CNY", rules=[{"bps": 0}], default=True,
                created_by="tests",
            )
        )  # fmt: skip
