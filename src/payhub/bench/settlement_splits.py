"""The split-payout half of `payhub bench settlement`, and `payhub bench splits`.

A group leader's customers pay (captured through the real payment flow); the leader's
batch splits the round to N suppliers (each a merchant with a verified bank account); the
batch is booked and every supplier's payout sent and confirmed on the in-process
simulator, whose rails really wait their latency (`latency_mode="sleep"`). Measured:
- `split_seconds`: from submitting the batch to the last payout confirmed;
- `payout_p90_ms_instant`: instant withdrawals end to end (reserve, send, record), p90.
Setting up the suppliers is not measured.

Every rail call's simulated latency is recorded, so each figure comes with the floor the
rails set in the same run: for a batch, the slowest payout's own rail time (its call, and
the query that follows a lost answer) and the rails' capacity (each rail's summed latency
over the calls it may have in flight); for instant payouts, the p90 of the rail's latency
alone, per rail. No implementation can beat those floors; the ratios say how close we are.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import ChannelAdapter, ChannelResult, PayoutRequest
from payhub.channels.sim.adapter import load_channels
from payhub.channels.sim.scenario import Scenario, builtin_scenario
from payhub.clikit import console
from payhub.core.config import get_settings
from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.ledger.service import JournalSpec, PostingSpec, Side
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as payments
from payhub.payments.channels import use_channels
from payhub.settlement.payouts import flow
from payhub.settlement.payouts import service as payouts
from payhub.settlement.payouts.config import PayoutConfig, get_config, use_config
from payhub.splits import runner
from payhub.splits import service as splits
from payhub.vault import service as vault
from payhub.vault import testcards

CURRENCY = "CNY"
PER_RECEIVER = 10_000  # 100.00 CNY to each supplier
SETUP_PER_TRANSACTION = 250
PAYMENT_SIZE = 5_000_000  # the round's customer payments: 50 000.00 CNY each


@dataclass(slots=True)
class RailClock:
    """The simulated latency of every payout call and query, by request id (seconds, as
    slept: scaled like the rails)."""

    scale: float = 1.0
    took: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rail_of: dict[str, str] = field(default_factory=dict)

    def add(self, rail: str, request_id: str, result: ChannelResult) -> None:
        self.took[request_id] += result.latency_ms / 1000 * self.scale
        self.rail_of.setdefault(request_id, rail)

    def clear(self) -> None:
        self.took.clear()
        self.rail_of.clear()

    def floors(self, limit_of: Mapping[str, int]) -> dict[str, float]:
        """The batch's floors: its slowest payout's rail time, and the rails' capacity."""
        per_rail: dict[str, float] = defaultdict(float)
        for request_id, seconds in self.took.items():
            per_rail[self.rail_of[request_id]] += seconds
        capacity = max((total / limit_of[rail] for rail, total in per_rail.items()), default=0.0)
        return {
            "slowest_payout_rail_s": round(max(self.took.values(), default=0.0), 2),
            "rail_capacity_floor_s": round(capacity, 2),
        }


class _Timed:
    """A rail adapter that records the simulated latency of what it answers."""

    def __init__(self, inner: ChannelAdapter, clock: RailClock) -> None:
        self.inner = inner
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        result = await self.inner.payout(request)
        self.clock.add(self.inner.channel_id, request.request_id, result)
        return result

    async def query_payout(self, request_id: str) -> ChannelResult:
        result = await self.inner.query_payout(request_id)
        self.clock.add(self.inner.channel_id, request_id, result)
        return result


def bench_scenario(*, seed: int = 7) -> Scenario:
    """The shipped scenario, as it is: its rails' latency, success and lost rates."""
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["seed"] = seed
    return Scenario.model_validate(data)


def _banks(scenario: Scenario, n: int, seed: int) -> list[str]:
    """Supplier banks in the scenario's issuer shares."""
    rng = random.Random(seed)
    codes = [i.code for i in scenario.issuers]
    weights = [i.share for i in scenario.issuers]
    return rng.choices(codes, weights, k=n)


async def _open_suppliers(db: Database, banks: list[str], tag: str) -> list[str]:
    """One merchant per supplier, its bank account bound and verified; the payee ids."""
    ids: list[str] = []
    for start in range(0, len(banks), SETUP_PER_TRANSACTION):
        chunk = list(enumerate(banks[start : start + SETUP_PER_TRANSACTION], start))

        async def make(session: AsyncSession, chunk: list[tuple[int, str]] = chunk) -> list[str]:
            made = []
            for i, bank in chunk:
                name = f"Supplier {tag} {i}"
                merchant = await merchants.create_merchant(
                    session, merchants.MerchantSpec(name=name)
                )
                account, _ = await vault.bind_bank_account(
                    session,
                    merchant_id=merchant.id,
                    owner_ref=merchant.id,
                    bank_code=bank,
                    account_number=f"6222{i:012d}",
                    holder_name=name,
                )
                payee = await payouts.register_payee(
                    session, merchant_id=merchant.id, bank_account=account.token, role="supplier"
                )
                await payouts.mark_verified(session, payee.id, by="operator")
                made.append(payee.id)
            return made

        ids += await db.run_in_transaction(make)
    return ids


async def _open_leader(db: Database, total: int, tag: str) -> tuple[str, list[str]]:
    """A group leader whose round's payments (captured) add up to `total`, that money in
    its available balance (as settlement would put it)."""

    async def make(session: AsyncSession) -> tuple[str, str]:
        merchant = await merchants.create_merchant(
            session, merchants.MerchantSpec(name=f"Leader {tag}")
        )
        account, _ = await vault.bind_bank_account(
            session,
            merchant_id=merchant.id,
            owner_ref=merchant.id,
            bank_code="PARTNER",
            account_number="622202009999000011",
            holder_name=f"Leader {tag}",
        )
        await payouts.register_payee(
            session, merchant_id=merchant.id, bank_account=account.token, role="group_leader"
        )
        card, _ = await vault.bind_card(
            session,
            merchant_id=merchant.id,
            customer_id=None,
            pan=testcards.test_card("PARTNER", "debit", random.Random(1)),
            exp_month=12,
            exp_year=2030,
        )
        return merchant.id, card.token

    leader, card = await db.run_in_transaction(make)
    paid: list[str] = []
    # The round collects 1 % more than it distributes: the merchant fee booked at capture
    # (0.6 % on the default plan) comes out of what was collected.
    left = total + total // 100
    while left > 0:
        amount = min(PAYMENT_SIZE, left)
        row = await db.transact(
            lambda sql, amount=amount: payments.create_payment(  # type: ignore[misc]
                sql,
                merchant_id=leader,
                amount=amount,
                currency=CURRENCY,
                payment_method=card,
                scene="group_buy",
            )
        )
        step = await orchestrator.confirm_payment(db, row.id, leader)
        if step.payment.status != "succeeded":
            continue  # a decline: the customer pays again
        paid.append(row.id)
        left -= amount
    await _fund(db, leader, total)
    return leader, paid


async def _fund(db: Database, merchant_id: str, amount: int) -> None:
    async def post(session: AsyncSession) -> None:
        await payouts.record(
            session,
            JournalSpec(
                id=f"bench-funding-{merchant_id}",
                postings=(
                    PostingSpec("bank:custody", Side.DEBIT, amount, CURRENCY),
                    PostingSpec(f"merchant:{merchant_id}:available", Side.CREDIT, amount, CURRENCY),
                ),
                description="Settled funds (benchmark set-up)",
            ),
            [
                payouts.custody_account(CURRENCY, payouts.hot_shards(session)),
                payouts.available_account(merchant_id, CURRENCY),
            ],
        )

    await db.run_in_transaction(post)


async def split_batch_seconds(
    db: Database,
    receivers: int,
    *,
    tag: str,
    concurrency: int | None,
    rails: RailClock | None = None,
    seed: int = 7,
) -> tuple[float, dict[str, Any]]:
    """Set up a leader and `receivers` suppliers; then time the batch from submission to
    its last payout confirmed. Returns the seconds and the final line counts (and, with
    `rails`, the batch's floors and the ratio to them)."""
    scenario = bench_scenario(seed=seed)
    payees = await _open_suppliers(db, _banks(scenario, receivers, seed), tag)
    leader, paid = await _open_leader(db, receivers * PER_RECEIVER, tag)
    order = splits.BatchOrder(
        merchant_id=leader,
        currency=CURRENCY,
        lines=[splits.LineIn(p, amount=PER_RECEIVER) for p in payees],
        payments=tuple(paid),
    )
    if rails is not None:
        rails.clear()
    started = time.perf_counter()
    batch = await db.run_in_transaction(lambda s: splits.create_batch(s, order))
    booked = time.perf_counter() - started
    done = await runner.run_batch(db, batch.id, concurrency=concurrency)
    # Payouts whose answer was lost are confirmed by the resolver's query.
    while done.pending:
        await flow.resolve(db, limit=1000, config=PayoutConfig(resolve_after_s=0.0))
        done = await runner.progress_of(db, batch.id)
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "paid": done.paid,
        "failed": done.failed,
        "total": done.total,
        "booking_seconds": round(booked, 2),
    }
    if rails is not None:
        config = get_config()
        limits = {rail: concurrency or config.rail_limit(rail) for rail in rails.rail_of.values()}
        floors = rails.floors(limits)
        figures |= floors
        figures["rail_limits"] = limits
        floor = max(floors.values())
        figures["ratio_to_floor"] = round(seconds / floor, 2) if floor else None
    return seconds, figures


async def instant_p90_ms(
    db: Database, samples: int, *, tag: str, rails: RailClock | None = None, seed: int = 7
) -> tuple[float, dict[str, dict[str, Any]]]:
    """Instant withdrawals, one after another, end to end; the 90th percentile in ms, and
    per rail: its p90, the p90 of the rail's latency alone, and their ratio."""
    scenario = bench_scenario(seed=seed)
    payees = await _open_suppliers(db, _banks(scenario, samples, seed + 1), f"{tag}i")

    async def merchant_of(session: AsyncSession, payee_id: str) -> str:
        return (await payouts.get_payee(session, payee_id, merchant_id=None)).merchant_id

    owners = [
        await db.run_in_transaction(lambda s, p=p: merchant_of(s, p))  # type: ignore[misc]
        for p in payees
    ]
    for owner in owners:
        await _fund(db, owner, 1_000_000)
    took: list[float] = []
    ours: dict[str, list[float]] = defaultdict(list)
    rail_alone: dict[str, list[float]] = defaultdict(list)
    for owner, payee in zip(owners, payees, strict=True):
        order = payouts.PayoutOrder(owner, 50_000, CURRENCY, payee, instant=True)
        started = time.perf_counter()
        (row,) = await flow.create_and_send(db, order)
        ms = (time.perf_counter() - started) * 1000
        took.append(ms)
        ours[row.rail].append(ms)
        if rails is not None:
            rail_alone[row.rail].append(rails.took.get(row.request_id, 0.0) * 1000)
    per_rail = {}
    for rail, values in sorted(ours.items()):
        figures: dict[str, Any] = {"samples": len(values), "p90_ms": round(_p90(values), 1)}
        if rails is not None:
            alone = _p90(rail_alone[rail])
            figures["rail_p90_ms"] = round(alone, 1)
            figures["ratio_to_rail"] = round(_p90(values) / alone, 2) if alone else None
        per_rail[rail] = figures
    return _p90(took), per_rail


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def _channels(latency_scale: float, seed: int, rails: RailClock) -> Mapping[str, ChannelAdapter]:
    scenario = bench_scenario(seed=seed)
    loaded = load_channels(scenario, latency_mode="sleep", time_scale=latency_scale)
    return {cid: _Timed(adapter, rails) for cid, adapter in loaded.items()}


async def run(
    url: str,
    sizes: list[int],
    *,
    instant_samples: int = 200,
    concurrency: int | None = None,
    latency_scale: float = 1.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The figures for `payhub bench settlement`: the largest batch's receivers and
    seconds (and every size's, with its floors), and the instant payout p90 (and per
    rail, against the rail's own latency). `concurrency` caps every rail alike; None: each
    rail's limit from the payout configuration."""
    db = Database(url, pool_size=40)
    rails = RailClock(scale=latency_scale)
    try:
        await upgrade(db.engine)
        tag = str(int(time.time()))
        batches: list[dict[str, Any]] = []
        with use_channels(_channels(latency_scale, 7, rails)), use_config(PayoutConfig()):
            for size in sizes:
                task = progress.add_task(f"{size} receivers", total=None) if progress else None
                seconds, figures = await split_batch_seconds(
                    db, size, tag=f"{tag}-{size}", concurrency=concurrency, rails=rails
                )
                batches.append({"receivers": size, "seconds": round(seconds, 2), **figures})
                if progress is not None and task is not None:
                    progress.update(task, total=1, completed=1)
            rails.clear()
            p90, per_rail = await instant_p90_ms(db, instant_samples, tag=tag, rails=rails)
    finally:
        await db.dispose()
    largest = max(batches, key=lambda b: b["receivers"])
    return {
        "split_receivers": largest["receivers"],
        "split_seconds": largest["seconds"],
        "payout_p90_ms_instant": round(p90, 1),
        "instant_by_rail": per_rail,
        "split_batches": batches,
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "rail_latency": "the default scenario's, slept"
        + (f" × {latency_scale}" if latency_scale != 1.0 else ""),
    }


def progress_bar() -> Progress:
    """The settlement benchmarks' bar: what runs, how far, for how long."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def splits_command(
    receivers: Annotated[
        list[int] | None, typer.Option(min=1, help="Batch sizes (repeat the option).")
    ] = None,
    instant_samples: Annotated[int, typer.Option(min=2, help="Instant payouts timed.")] = 200,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Payouts in flight per rail (default: each rail's limit)."),
    ] = None,
    latency_scale: Annotated[
        float, typer.Option(min=0.0, help="Multiply the rails' simulated latency.")
    ] = 1.0,
    database_url: Annotated[
        str | None, typer.Option(help="Database to run on (default: the configured one).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
) -> None:
    """Split batches posted and paid out, and instant payout latency, end to end."""
    url = database_url or get_settings().database_url
    sizes = receivers or [200, 10_000]
    with progress_bar() as bar:
        result = asyncio.run(
            run(
                url,
                sizes,
                instant_samples=instant_samples,
                concurrency=concurrency,
                latency_scale=latency_scale,
                progress=bar,
            )
        )
    console.print_json(json.dumps(result))
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
