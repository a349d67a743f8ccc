"""Worlds, merchants and cards for the payment tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from payhub.channels.base import ChannelAdapter
from payhub.channels.sim.adapter import SimulatedChannel, load_channels
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import builtin_scenario, scenario_from_data
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.routing.base import StaticRanker
from payhub.routing.engine import Router
from payhub.routing.service import set_router
from payhub.vault import testcards
from tests.merchants.helpers import create_merchant, merchant_key

# Cards stay valid through tests that move the clock a year or two ahead.
EXP_YEAR = datetime.now(UTC).year + 4


def world(
    *,
    hard_decline_rate: float = 0.0,
    success: Mapping[str, float] | None = None,
    lost: Mapping[str, float] | None = None,
) -> dict[str, ChannelAdapter]:
    """The default scenario's channels, made deterministic: every channel approves, nothing
    is lost, no incidents, fast answers; then the given changes."""
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["incidents"] = []
    data["hard_decline_rate"] = hard_decline_rate
    for channel in data["channels"]:
        cid = channel["id"]
        channel["success"] = {"default": (success or {}).get(cid, 1.0), "by_issuer": {}}
        channel["lost_rate"] = (lost or {}).get(cid, 0.0)
        channel["latency_ms"] = {"median": 50, "p99": 100}
    return dict(load_channels(scenario_from_data(data)))


def network(channels: Mapping[str, ChannelAdapter]) -> SimulatedNetwork:
    adapter = next(iter(channels.values()))
    assert isinstance(adapter, SimulatedChannel)
    return adapter.network


class Shop:
    """A merchant, its key's client, a customer, and helpers to bind cards and pay."""

    def __init__(self, me: httpx.AsyncClient, merchant_id: str, customer_id: str) -> None:
        self.me = me
        self.merchant_id = merchant_id
        self.customer_id = customer_id

    async def card(self, issuer: str = "PARTNER", card_type: str = "debit") -> tuple[str, str]:
        pan = testcards.test_card(issuer, card_type)
        made = await self.me.post(
            "/v1/payment_methods",
            json={
                "type": "card",
                "customer": self.customer_id,
                "card": {"number": pan, "exp_month": 12, "exp_year": EXP_YEAR},
            },
        )
        assert made.status_code == 201, made.text
        return made.json()["id"], pan

    async def pay(self, token: str, amount: int = 5000, **fields: Any) -> httpx.Response:
        return await self.me.post(
            "/v1/payments",
            json={
                "amount": amount,
                "currency": "CNY",
                "payment_method": token,
                "customer": self.customer_id,
                **fields,
            },
        )

    async def paid(self, token: str, amount: int = 5000, **fields: Any) -> dict[str, Any]:
        made = await self.pay(token, amount, **fields)
        assert made.status_code == 201, made.text
        payment: dict[str, Any] = made.json()
        return payment


async def open_shop(client: httpx.AsyncClient, as_key: Any, **merchant: Any) -> Shop:
    found = await create_merchant(client, **merchant)
    me = as_key(await merchant_key(client, found["id"]))
    customer = await me.post("/v1/customers", json={"name": "王小明"})
    assert customer.status_code == 201, customer.text
    return Shop(me, found["id"], customer.json()["id"])


async def balance(db: Database, code: str, currency: str = "CNY") -> int | None:
    """Posted balance of an account on its normal side; None when it was never opened."""

    async def read(session: Any) -> int | None:
        account = await ledger.find_account(session, code, currency)
        if account is None:
            return None
        return (await ledger.get_balance(session, account.id)).posted

    result: int | None = await db.run_in_transaction(read)
    return result


async def merchant_fees(db: Database, merchant_id: str) -> int:
    """What the merchant's payments were charged in fees, net of fees returned on refunds
    (each capture and refund journal books them: see payhub.settlement.fees)."""
    return await _fee_sum(db, "merchant_fee - merchant_fee_refunded", "merchant_id", merchant_id)


async def channel_costs(db: Database, channel_id: str) -> int:
    """What the channel charged for its payments, net of any fee it returned."""
    return await _fee_sum(db, "channel_cost - channel_cost_refunded", "channel_id", channel_id)


async def _fee_sum(db: Database, expression: str, column: str, value: str) -> int:
    statement = text(
        f"SELECT COALESCE(SUM({expression}), 0) FROM payment_fees WHERE {column} = :value"
    )
    async with db.engine.connect() as conn:
        total = (await conn.execute(statement, {"value": value})).scalar_one()
    return int(total)


async def count_rows(db: Database, *tables: str) -> dict[str, int]:
    counts = {}
    async with db.engine.connect() as conn:
        for table in tables:
            counts[table] = (
                await conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}")
            ).scalar_one()
    return counts


async def event_types(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT type FROM events ORDER BY id")).all()
    return [r[0] for r in rows]


@contextmanager
def static_routing() -> Iterator[None]:
    """Route by the shipped rule and the scenario's channel order, cascade on: for tests
    that name the channel a card goes to."""
    previous = set_router(Router(StaticRanker(), cascade=True))
    try:
        yield
    finally:
        set_router(previous)
