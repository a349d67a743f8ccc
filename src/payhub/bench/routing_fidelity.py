"""Does the routing benchmark's fast replay decide as the platform does? Checked.

The benchmark's replay drives the real `Router` (eligibility, operator rules, the strategy,
the cascade) and the simulator's channel adapters, but not the database-backed payment
orchestration (`payhub.payments.orchestrator` + `payhub.payments.service`). This module
plays the same payments both ways and compares them payment by payment:

- *the replay*, in a serial mode (`replay_traces`): each payment runs to its end — every
  attempt, the cascade, the queries that settle an unknown outcome — before the next one
  arrives;
- *the platform* (`orchestrated_replay`): each payment is created and confirmed through the
  payment service and orchestrator on a database, with this strategy installed as the
  process's router, a frozen clock that the simulator's adapters move by each call's
  latency, and an unknown outcome settled by the resolver job (`resolve_in_flight`), run
  at once and again every `RESOLVER_INTERVAL_S` while the query goes unanswered.

Both see the same order of events: a payment arrives at its scenario moment, or when the
one before it is over if that is later. The benchmark proper overlaps payments (an answer
reaches the strategy only when it comes back); a single driver of the orchestrator cannot,
so the check is made on the serial order, where the two must agree exactly.

What is compared per payment: the moment of the decision and the stored explanation (the
order, every candidate's score, the rules hit, the channels excluded), every attempt's
channel, result and latency, whether and where it was approved, whether by query, how many
queries, and the time from arrival to the final answer.

Two things differ on purpose and do not reach the decisions. The simulator keys its draws
by the merchant's order reference, which the platform does not send: the channels here put
the scenario's key of each payment there, so both meet the same draws. And the platform's
card comes from the vault, whose BIN table knows only some of the scenarios' issuers and
card types: payments of the others are left out of the sample (`payable`).
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.bench.routing import (
    MAX_QUERIES,
    RESOLVER_INTERVAL_S,
    PaymentOutcome,
    RouterFactory,
    Setup,
    _Replay,
    scenario_start,
)
from payhub.bench.routing_timing import (
    ForwardingRouter,
    Sample,
    Stopwatch,
    TimedRouter,
    Timings,
    summary,
)
from payhub.channels.base import AuthorizeRequest, ChannelInfo, ChannelResult
from payhub.channels.sim.adapter import SimulatedChannel
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import Scenario
from payhub.channels.sim.workload import SimPayment
from payhub.clikit import console
from payhub.core import clock
from payhub.core.clock import FrozenClock, use_clock
from payhub.db.migrate import upgrade
from payhub.db.session import Database
from payhub.db.sql import Sql
from payhub.merchants import service as merchants
from payhub.payments import orchestrator
from payhub.payments import service as steps
from payhub.payments.channels import use_channels
from payhub.payments.rows import PaymentRow
from payhub.risk.decisions import service as risk
from payhub.risk.decisions.rules import NO_RULES
from payhub.routing import service as routing
from payhub.routing.base import Context, Result
from payhub.routing.engine import Decision, Router
from payhub.vault import service as vault
from payhub.vault import testcards

# Far enough ahead that no scenario's moment finds the card expired.
CARD_EXPIRY = (12, 2035)
# The route keys the platform stores beside the decision's own explanation.
_ROUTE_SETTINGS = ("strategy", "rules_version", "budget_ms")


@dataclass(frozen=True, slots=True)
class Trace:
    """What happened to one payment, as comparable between the two ways."""

    key: str
    arrival_s: float
    decided_at: str
    route: dict[str, Any]  # Decision.explain(), as stored (JSON)
    attempts: tuple[tuple[str, str, int], ...]  # (channel, result, latency ms)
    approved: bool
    channel_id: str | None
    by_query: bool
    queries: int
    total_ms: float


def payable(payments: Sequence[SimPayment]) -> list[SimPayment]:
    """The payments the vault can make a card for (its BIN table knows their issuer and
    card type)."""
    known = set(testcards.available())
    return [p for p in payments if (p.issuer, p.card_type.value) in known]


def _as_stored(explanation: Mapping[str, Any]) -> dict[str, Any]:
    """The explanation as it comes back from the database (a JSON round trip)."""
    stored: dict[str, Any] = json.loads(json.dumps(explanation))
    return stored


def _attempts(outcome: PaymentOutcome) -> tuple[tuple[str, str, int], ...]:
    return tuple((a.channel_id, a.result.value, a.latency_ms) for a in outcome.attempts)


# ------------------------------------------------------------------------------ the replay


class RecordingRouter(ForwardingRouter):
    """Keeps every decision's moment and explanation, by payment key."""

    def __init__(self, inner: Router) -> None:
        super().__init__(inner)
        self.decisions: dict[str, tuple[datetime, dict[str, Any]]] = {}

    def decide(self, ctx: Context, channels: Sequence[ChannelInfo]) -> Decision:
        decision = self.inner.decide(ctx, channels)
        self.decisions[ctx.payment_key] = (ctx.at, _as_stored(decision.explain()))
        return decision


class _SerialReplay(_Replay):
    """The benchmark's replay with each payment run to its end before the next arrives.
    Only the order of events changes: arrival, attempts, answers and queries are the
    replay's own steps (so a change to them is checked here too)."""

    async def run(
        self, payments: Sequence[SimPayment], tick: Callable[[int], None] | None = None
    ) -> list[PaymentOutcome]:
        # No progress ticks: samples are a few hundred payments.
        outcomes: list[PaymentOutcome] = []
        with use_clock(self.clock):
            for payment in payments:
                arrival = max(payment.at_s, self._now_s())
                self._at(arrival)
                outcomes.append(await self._arrive(replace(payment, at_s=arrival)))
                while self._queue:
                    await self._answer()
        return outcomes


async def replay_traces(
    scenario: Scenario,
    factory: RouterFactory,
    payments: Sequence[SimPayment],
    *,
    serial: bool = True,
) -> list[Trace]:
    """The benchmark's replay of these payments: one at a time (`serial`), or overlapping
    as the benchmark runs them."""
    recorder: RecordingRouter | None = None

    def recorded(setup: Setup) -> Router:
        nonlocal recorder
        recorder = RecordingRouter(factory(setup))
        return recorder

    job = (_SerialReplay if serial else _Replay)(scenario, recorded)
    outcomes = await job.run(payments)
    assert recorder is not None
    return [_replayed(outcome, recorder.decisions.get(outcome.key)) for outcome in outcomes]


def _replayed(outcome: PaymentOutcome, decided: tuple[datetime, dict[str, Any]] | None) -> Trace:
    return Trace(
        key=outcome.key,
        arrival_s=outcome.at_s,
        decided_at=clock.to_rfc3339(decided[0]) if decided else "",
        route=decided[1] if decided else {},
        attempts=_attempts(outcome),
        approved=outcome.approved,
        channel_id=outcome.channel_id,
        by_query=outcome.by_query,
        queries=outcome.queries,
        total_ms=outcome.total_ms,
    )


# ---------------------------------------------------------------------------- the platform


class KeyedChannel(SimulatedChannel):
    """A simulated channel that puts the scenario's key of each payment in the request's
    reference (the platform sends none; the simulator keys its draws by it), and notes
    what each payment's requests got."""

    def __init__(
        self,
        network: SimulatedNetwork,
        channel_id: str,
        keys: Mapping[str, str],
        log: ChannelLog,
        clock: FrozenClock,
    ) -> None:
        super().__init__(network, channel_id, latency_mode="advance_clock", clock=clock)
        self._keys = keys
        self._log = log

    async def authorize(self, request: AuthorizeRequest) -> ChannelResult:
        result = await super().authorize(replace(request, reference=self._keys[request.payment_id]))
        self._log.answered(request.payment_id, request.request_id, self.channel_id, result)
        return result

    async def query(self, request_id: str) -> ChannelResult:
        self._log.asked(request_id)
        return await super().query(request_id)


@dataclass(slots=True)
class ChannelLog:
    """Per payment id: every authorisation's (channel, result, latency), and the queries."""

    attempts: dict[str, list[tuple[str, str, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    queries: Counter[str] = field(default_factory=Counter)
    _payment_of: dict[str, str] = field(default_factory=dict)  # request id → payment id

    def answered(
        self, payment_id: str, request_id: str, channel_id: str, result: ChannelResult
    ) -> None:
        self._payment_of[request_id] = payment_id
        self.attempts[payment_id].append((channel_id, Result.of(result).value, result.latency_ms))

    def asked(self, request_id: str) -> None:
        self.queries[self._payment_of.get(request_id, "")] += 1


@dataclass(slots=True)
class Shop:
    merchant_id: str
    customer_id: str
    cards: dict[tuple[str, str], str] = field(default_factory=dict)  # (issuer, type) → token


async def _open_shop(db: Database, payments: Sequence[SimPayment]) -> Shop:
    """A merchant with no limits, a customer, and a card of every issuer and card type the
    payments use."""

    async def open_it(session: AsyncSession) -> Shop:
        merchant = await merchants.create_merchant(
            session, merchants.MerchantSpec(name="Routing fidelity shop")
        )
        customer = await merchants.create_customer(
            session, merchant_id=merchant.id, name="Routing fidelity customer"
        )
        # One customer paying thousands of times an hour is card testing to the risk
        # rules; here it is the routing's workload, so the rules are off (the decision is
        # still made and recorded, as on every payment).
        await risk.publish(session, NO_RULES, created_by="routing fidelity", note="no rules")
        shop = Shop(merchant.id, customer.id)
        for issuer, kind in sorted({(p.issuer, p.card_type.value) for p in payments}):
            card, _ = await vault.bind_card(
                session,
                merchant_id=merchant.id,
                customer_id=customer.id,
                pan=testcards.test_card(issuer, kind),
                exp_month=CARD_EXPIRY[0],
                exp_year=CARD_EXPIRY[1],
            )
            shop.cards[(issuer, kind)] = card.token
        return shop

    return await db.run_in_transaction(open_it)


@dataclass(slots=True)
class PaymentPath:
    """Decision cost as the payment path runs it: `decide` inside `start_confirm`, and
    the active-rules lookup `current_router` makes before every decision."""

    decide: Timings = field(default_factory=Timings)
    rules_lookup: list[Sample] = field(default_factory=list)


class _Platform:
    """The payments of a sample, created and confirmed one at a time on the platform."""

    def __init__(self, db: Database, scenario: Scenario, factory: RouterFactory) -> None:
        self.db = db
        self.start = scenario_start(scenario)
        self.clock = FrozenClock(self.start)
        self.network = SimulatedNetwork(scenario, start=self.start)
        self.keys: dict[str, str] = {}  # payment id → scenario key
        self.log = ChannelLog()
        self.channels = {
            cid: KeyedChannel(self.network, cid, self.keys, self.log, self.clock)
            for cid in self.network.channel_ids
        }
        self.path = PaymentPath()
        self._watch = Stopwatch()
        router = factory(Setup(scenario, self.network.world, self.start))
        self.router = TimedRouter(router, self.path.decide, reference=False)

    def _now_s(self) -> float:
        return (self.clock.now() - self.start).total_seconds()

    async def play(self, payments: Sequence[SimPayment]) -> list[Trace]:
        previous = routing.set_router(self.router)
        try:
            with use_clock(self.clock), use_channels(self.channels):
                shop = await _open_shop(self.db, payments)
                return [await self._one(shop, payment) for payment in payments]
        finally:
            routing.set_router(previous)

    async def _one(self, shop: Shop, payment: SimPayment) -> Trace:
        arrival = max(payment.at_s, self._now_s())
        self.clock.set(self.start + timedelta(seconds=arrival))
        made = await self.db.transact(
            partial(
                steps.create_payment,
                merchant_id=shop.merchant_id,
                amount=payment.amount,
                currency=payment.currency,
                payment_method=shop.cards[(payment.issuer, payment.card_type.value)],
                customer_id=shop.customer_id,
            )
        )
        self.keys[made.id] = payment.key
        step = await orchestrator.confirm_payment(self.db, made.id, shop.merchant_id)
        by_query = False
        while not step.settled and self.log.queries[made.id] < MAX_QUERIES:
            # The resolver's run: at once, then every interval while the query is unanswered.
            if self.log.queries[made.id]:
                self.clock.advance(timedelta(seconds=RESOLVER_INTERVAL_S))
            await orchestrator.resolve_in_flight(self.db)
            step.payment = await self.db.transact(
                partial(steps.get_payment, payment_id=made.id, merchant_id=None)
            )
            by_query = step.settled
        await self._time_rules_lookup(made.id)
        return self._trace(payment.key, made.id, arrival, step.payment, by_query)

    async def _time_rules_lookup(self, payment_id: str) -> None:
        """`current_router` as `start_confirm` calls it: in a transaction that has already
        read the payment (so the time is the lookup's, not the transaction's start)."""
        ids = list(self.channels)

        async def lookup(sql: Sql) -> Sample:
            await steps.get_payment(sql, payment_id, merchant_id=None)
            began = self._watch.start()
            await routing.current_router(sql, ids)
            return self._watch.stop(began)

        self.path.rules_lookup.append(await self.db.transact(lookup))

    def _trace(
        self, key: str, payment_id: str, arrival: float, row: PaymentRow, by_query: bool
    ) -> Trace:
        decision = row.decision or {}
        route = {k: v for k, v in (decision.get("route") or {}).items() if k not in _ROUTE_SETTINGS}
        approved = row.status == "succeeded"
        if row.in_flight_attempt_id is None:
            total_ms = (row.updated_at - row.created_at).total_seconds() * 1000.0
        else:
            # Every query went unanswered: over when the replay gives up too.
            total_ms = (self._now_s() - arrival) * 1000.0
        return Trace(
            key=key,
            arrival_s=arrival,
            decided_at=str(decision.get("decided_at") or ""),
            route=route,
            attempts=tuple(self.log.attempts[payment_id]),
            approved=approved,
            channel_id=row.channel_id if approved else None,
            by_query=by_query and approved,
            queries=self.log.queries[payment_id],
            total_ms=total_ms,
        )


async def orchestrated_replay(
    db: Database,
    scenario: Scenario,
    factory: RouterFactory,
    payments: Sequence[SimPayment],
) -> tuple[list[Trace], PaymentPath]:
    """These payments through the payment service and orchestrator on `db` (migrated), one
    at a time; and what the decision cost there."""
    platform = _Platform(db, scenario, factory)
    traces = await platform.play(payments)
    return traces, platform.path


# ----------------------------------------------------------------------------- comparison


@dataclass(frozen=True, slots=True)
class Difference:
    key: str
    field: str
    replay: Any
    platform: Any

    def figures(self) -> dict[str, str]:
        """For the JSON: the values as text, cut short."""
        return {
            "payment": self.key,
            "field": self.field,
            "replay": str(self.replay)[:200],
            "platform": str(self.platform)[:200],
        }


def differences(replayed: Sequence[Trace], platform: Sequence[Trace]) -> list[Difference]:
    """Every field of every payment on which the two ways disagree (times to the µs)."""
    found: list[Difference] = []
    if [t.key for t in replayed] != [t.key for t in platform]:
        return [Difference("*", "payments", len(replayed), len(platform))]
    for mine, theirs in zip(replayed, platform, strict=True):
        for name in (f.name for f in fields(Trace)):
            a, b = getattr(mine, name), getattr(theirs, name)
            same = math.isclose(a, b, abs_tol=1e-3) if isinstance(a, float) else a == b
            if not same:
                found.append(Difference(mine.key, name, a, b))
    return found


def exercised(traces: Sequence[Trace]) -> dict[str, int]:
    """How many payments of the sample went each way worth checking."""
    results = [[r for _, r, _ in t.attempts] for t in traces]
    return {
        "payments": len(traces),
        "approved": sum(t.approved for t in traces),
        "cascaded": sum(len(r) > 1 for r in results),
        "hard_declined": sum(Result.HARD_DECLINE.value in r for r in results),
        "unknown_outcome": sum(Result.UNKNOWN.value in r for r in results),
        "approved_by_query": sum(t.by_query for t in traces),
    }


# ------------------------------------------------------------------------------- the check


def spread(payments: Sequence[SimPayment], count: int) -> list[SimPayment]:
    """`count` of the payable payments, spread evenly over the scenario (every k-th), so the
    sample meets each of its incidents and its payments seldom overlap."""
    pool = payable(payments)
    if count >= len(pool):
        return pool
    step = len(pool) / count
    return [pool[int(i * step)] for i in range(count)]


@dataclass(slots=True)
class Check:
    """One strategy's check on a sample."""

    strategy: str
    traces: list[Trace]
    differences: list[Difference]
    overlapping: int  # payments the benchmark's overlapping replay plays otherwise
    path: PaymentPath

    def figures(self) -> dict[str, Any]:
        return {
            "exercised": exercised(self.traces),
            "payments_differing": len({d.key for d in self.differences}),
            "first_differences": [d.figures() for d in self.differences[:3]],
            "overlapping_replay_differing": self.overlapping,
            "payment_path": {
                "decide": summary(self.path.decide.decide),
                "rules_lookup": summary(self.path.rules_lookup),
            },
        }


async def check_strategy(
    db: Database,
    scenario: Scenario,
    name: str,
    factory: RouterFactory,
    sample: Sequence[SimPayment],
) -> Check:
    """The sample through the platform on `db` (migrated, with no payments in flight) and
    through the replay, compared."""
    platform, path = await orchestrated_replay(db, scenario, factory, sample)
    serial = await replay_traces(scenario, factory, sample)
    overlapping = await replay_traces(scenario, factory, sample, serial=False)
    return Check(
        strategy=name,
        traces=platform,
        differences=differences(serial, platform),
        overlapping=len({d.key for d in differences(serial, overlapping)}),
        path=path,
    )


def check_fidelity(
    scenario: Scenario,
    factories: Mapping[str, RouterFactory],
    payments: Sequence[SimPayment],
    count: int,
) -> dict[str, Any]:
    """The `fidelity` key of the routing benchmark's JSON: each strategy's check on `count`
    payments spread over the scenario, each on a fresh temporary SQLite database."""
    sample = spread(payments, count)
    checks = {
        name: asyncio.run(_on_scratch_database(scenario, name, factory, sample))
        for name, factory in factories.items()
    }
    return {
        "database": "sqlite, a fresh temporary file per strategy",
        "sample": f"{len(sample)} payments spread over the scenario (the vault's issuers only)",
        "order": "serial: each payment over before the next arrives",
        "strategies": {name: check.figures() for name, check in checks.items()},
    }


async def _on_scratch_database(
    scenario: Scenario, name: str, factory: RouterFactory, sample: Sequence[SimPayment]
) -> Check:
    with tempfile.TemporaryDirectory(prefix="payhub-fidelity-") as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'fidelity.db'}", pool_size=2)
        try:
            await upgrade(db.engine)
            return await check_strategy(db, scenario, name, factory, sample)
        finally:
            await db.dispose()


def print_fidelity(fidelity: Mapping[str, Any]) -> None:
    table = Table(
        title=f"Replay against the platform ({escape(fidelity['sample'])}; {fidelity['order']})"
    )
    columns = (
        "strategy",
        "payments",
        "cascaded",
        "unknown",
        "by query",
        "differing",
        "overlap differing",
        "decide in start_confirm p50 / p99 µs",
        "rules lookup p50 / p99 µs",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, f in fidelity["strategies"].items():
        seen = f["exercised"]
        decide, lookup = f["payment_path"]["decide"], f["payment_path"]["rules_lookup"]
        differing = f["payments_differing"]
        table.add_row(
            escape(name),
            str(seen["payments"]),
            str(seen["cascaded"]),
            str(seen["unknown_outcome"]),
            str(seen["approved_by_query"]),
            "0" if differing == 0 else f"[red]{differing}[/]",
            str(f["overlapping_replay_differing"]),
            f"{decide['p50_us']} / {decide['p99_us']} "
            f"(CPU {decide['cpu_p50_us']} / {decide['cpu_p99_us']})",
            f"{lookup['p50_us']} / {lookup['p99_us']}",
        )
    console.print(table)
    for name, f in fidelity["strategies"].items():
        for d in f["first_differences"]:
            console.print(
                f"[red]differs[/] {escape(name)} {escape(d['payment'])} {escape(d['field'])}: "
                f"replay {escape(d['replay'])} / platform {escape(d['platform'])}"
            )
