"""Merchants with bank accounts, funded balances and deterministic payout rails for the
payout and split tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelAdapter, ChannelResult, ChannelStatus, PayoutRequest
from payhub.channels.sim.adapter import SimulatedChannel, load_channels
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import builtin_scenario, scenario_from_data
from payhub.db.session import Database
from payhub.ledger import service as ledger
from payhub.ledger.service import JournalSpec, PostingSpec, Side
from payhub.merchants import service as merchants
from payhub.risk.sanctions import registry
from payhub.risk.sanctions.lists import parse_csv
from payhub.settlement.payouts import service
from payhub.vault import service as vault
from tests.risk.helpers import HEADER


def rails_world(
    *,
    success: Mapping[str, float] | None = None,
    lost: Mapping[str, float] | None = None,
    returns: Mapping[str, float] | None = None,
    latency_ms: float = 5.0,
    start_at: str | None = None,
) -> dict[str, ChannelAdapter]:
    """The default scenario, its payout rails made deterministic (every payout approved,
    nothing lost or returned, fast answers), then the given changes."""
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["incidents"] = []
    data["hard_decline_rate"] = 0.0
    for channel in data["channels"]:
        channel["success"] = {"default": 1.0, "by_issuer": {}}
        channel["lost_rate"] = 0.0
        channel["latency_ms"] = {"median": 5, "p99": 10}
    if start_at is not None:
        data["start_at"] = start_at
    for rail in data["payout_rails"]:
        rid = rail["id"]
        rail["success"] = (success or {}).get(rid, 1.0)
        rail["lost_rate"] = (lost or {}).get(rid, 0.0)
        rail["return_rate"] = (returns or {}).get(rid, 0.0)
        rail["latency_ms"] = {"median": latency_ms, "p99": latency_ms * 2}
    return dict(load_channels(scenario_from_data(data)))


def network(channels: Mapping[str, ChannelAdapter]) -> SimulatedNetwork:
    adapter = next(iter(channels.values()))
    assert isinstance(adapter, SimulatedChannel)
    return adapter.network


@dataclass
class Party:
    merchant_id: str
    bank_account: str
    payee_id: str


_accounts = iter(range(10_000_000, 99_999_999, 7919))


async def open_party(
    db: Database,
    name: str = "Fresh Farm Supplies",
    *,
    bank: str = "ICBC",
    role: str = "supplier",
    verified: bool = True,
    funds: int = 0,
    daily_limit: int | None = None,
    split_cap: int | None = None,
) -> Party:
    """A merchant with a bank account bound as its payee (verified by an operator unless
    told otherwise) and `funds` in its available balance."""

    async def make(session: AsyncSession) -> Party:
        merchant = await merchants.create_merchant(session, merchants.MerchantSpec(name=name))
        account, _ = await vault.bind_bank_account(
            session,
            merchant_id=merchant.id,
            owner_ref=merchant.id,
            bank_code=bank,
            account_number=f"62220200{next(_accounts)}",
            holder_name=name,
        )
        payee = await service.register_payee(
            session,
            merchant_id=merchant.id,
            bank_account=account.token,
            role=role,
            daily_limit=daily_limit,
            split_cap=split_cap,
        )
        if verified:
            await service.mark_verified(session, payee.id, by="operator")
        return Party(merchant.id, account.token, payee.id)

    party = await db.run_in_transaction(make)
    if funds:
        await fund(db, party.merchant_id, funds)
    return party


_funding = iter(range(1, 10**9))


async def fund(db: Database, merchant_id: str, amount: int, currency: str = "CNY") -> None:
    """Money in the merchant's available balance, from the custody account (as settlement
    would put it there)."""

    async def post(session: AsyncSession) -> None:
        await service.record(
            session,
            JournalSpec(
                id=f"test-funding-{next(_funding)}-{merchant_id}"[:64],
                postings=(
                    PostingSpec("bank:custody", Side.DEBIT, amount, currency),
                    PostingSpec(f"merchant:{merchant_id}:available", Side.CREDIT, amount, currency),
                ),
                description="Test funding",
            ),
            [
                service.custody_account(currency, service.hot_shards(session)),
                service.available_account(merchant_id, currency),
            ],
        )

    await db.run_in_transaction(post)


async def balance(db: Database, code: str, currency: str = "CNY") -> int:
    """Posted balance on the account's normal side (0 when never opened)."""

    async def read(session: AsyncSession) -> int:
        account = await ledger.find_account(session, code, currency)
        if account is None:
            return 0
        return (await ledger.get_balance(session, account.id)).posted

    return await db.run_in_transaction(read)


async def available(db: Database, merchant_id: str, currency: str = "CNY") -> int:
    """What the merchant may still withdraw: posted less what holds reserve."""

    async def read(session: AsyncSession) -> int:
        account = await ledger.find_account(session, f"merchant:{merchant_id}:available", currency)
        if account is None:
            return 0
        return (await ledger.get_balance(session, account.id)).available

    return await db.run_in_transaction(read)


async def load_watch_list(db: Database, *names: str) -> None:
    rows = "".join(f"test_list,{i},{n},,person,,,\n" for i, n in enumerate(names, 1))
    _, entries = parse_csv(HEADER + rows, None)
    await db.run_in_transaction(lambda s: registry.load_list(s, "test_list", "csv", entries))


async def ledger_is_balanced(db: Database) -> bool:
    """Every posted entry sums to zero per currency (debits = credits)."""
    async with db.engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                "SELECT currency, SUM(CASE WHEN side = 'debit' THEN amount ELSE -amount END) "
                "FROM ledger_entries WHERE NOT pending GROUP BY currency"
            )
        ).all()
    return all(int(r[1]) == 0 for r in rows)


async def count_rows(db: Database, *tables: str) -> dict[str, int]:
    counts = {}
    async with db.engine.connect() as conn:
        for table in tables:
            counts[table] = (
                await conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}")
            ).scalar_one()
    return counts


class Unanswered:
    """A rail whose answers never arrive while `silent` (the rail acts on the payout all
    the same): what a timeout or a dropped connection looks like to PayHub."""

    def __init__(self, inner: ChannelAdapter) -> None:
        self.inner = inner
        self.silent = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        result = await self.inner.payout(request)
        if self.silent:
            return ChannelResult(ChannelStatus.TIMEOUT, latency_ms=result.latency_ms)
        return result

    async def query_payout(self, request_id: str) -> ChannelResult:
        if self.silent:
            return ChannelResult(ChannelStatus.LOST)
        return await self.inner.query_payout(request_id)


async def add_payee(db: Database, merchant_id: str, name: str, *, bank: str = "CCB") -> str:
    """Another verified bank account of the merchant; its payee id."""

    async def make(session: AsyncSession) -> str:
        account, _ = await vault.bind_bank_account(
            session,
            merchant_id=merchant_id,
            owner_ref=merchant_id,
            bank_code=bank,
            account_number=f"62220200{next(_accounts)}",
            holder_name=name,
        )
        payee = await service.register_payee(
            session, merchant_id=merchant_id, bank_account=account.token
        )
        await service.mark_verified(session, payee.id, by="operator")
        return payee.id

    return await db.run_in_transaction(make)
