"""`payhub bench routing`: routing strategies replayed against the bank-network simulator.

Every strategy plays the same scenario on the same draws: the scenario's payments (from
`generate_payments`) go through the routing engine (`Router`: eligibility, operator rules,
the strategy's ranking, the cascade) and the simulator's channel adapters, each strategy
on a fresh `SimulatedNetwork` of the same scenario, so a payment meets the same issuer
answer, the same channel decisions and the same latencies whichever strategy routes it.

Time is simulated: a `FrozenClock` is set to each payment's arrival and advanced by each
call's latency (the adapters run in `advance_clock` mode). Payments overlap as they would in
production: the replay is an event queue in simulated time, so a strategy learns an
attempt's outcome only when its answer comes back, and payments that arrive meanwhile are
routed without it. A one-hour scenario replays in seconds.

Per payment, as the product does it: decide, try the first channel, observe every attempt
(the strategy sees the payment's context with `at` = the moment the answer came back, so
observations arrive in time order), cascade with `Router.next_channel` (elapsed time
includes every attempt's latency); an unknown outcome (timeout, lost answer) stops the
cascade and is resolved by querying the channel, as the resolver job does (an unanswered
query is asked again one job interval later).
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from payhub.channels.base import CardType, ChannelInfo, ChannelResult, ChannelStatus
from payhub.channels.sim.adapter import SimulatedChannel, load_channels
from payhub.channels.sim.draws import World
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import (
    IncidentSpec,
    Scenario,
    ScenarioError,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
)
from payhub.channels.sim.workload import SimPayment, generate_payments
from payhub.clikit import console, errors
from payhub.core.clock import FrozenClock, use_clock
from payhub.routing.base import Context, Ranker, Result, StaticRanker
from payhub.routing.engine import DEFAULT_RULES, Decision, Router

if TYPE_CHECKING:
    from payhub.bench.routing_measures import Measures

# Every strategy but `static` cascades within this budget (the engine's default).
CASCADE_BUDGET_MS = 1000
# The resolver job's default interval: an unanswered query is asked again this much later.
RESOLVER_INTERVAL_S = 5.0
# After this many unanswered queries (an hour of asking) the payment is counted as failed;
# the scenarios' incidents end long before.
MAX_QUERIES = 720
# Simulated second 0 when a scenario has no `start_at` (cards are valid then).
DEFAULT_START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
WITHIN_MS = 1000.0
# Rolling window of the chart, in simulated seconds (at most this; shorter scenarios use a
# twentieth of their duration).
CHART_WINDOW_S = 180.0

DEFAULT_STRATEGIES = ("static", "sw_ucb", "thompson", "sr_v3", "payhub", "oracle")
METRICS = (
    "success_rate",
    "first_attempt_success_rate",
    "within_1s_share",
    "p90_ms",
    "fee_bps",
    "attempts_per_payment",
    "double_charges",
)
SEED_BASELINE = "seed-baseline"


# ---------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setup:
    """What a strategy may be built from: the scenario, and (for the oracle only) the
    simulated world itself and the moment of simulated second 0."""

    scenario: Scenario
    world: World
    start: datetime


RouterFactory = Callable[[Setup], Router]


class StrategyUnavailableError(LookupError):
    """A strategy whose module or class is not there (yet)."""


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """Where a strategy's ranker lives; imported only when the strategy is asked for."""

    module: str
    attribute: str
    needs_world: bool = False  # built as `Ranker(world, start)`, else `Ranker()`


# Every strategy but `static` (the engine's own) is imported by name, so the benchmark runs
# with whichever of them exist.
REGISTRY: Mapping[str, StrategySpec] = {
    "sw_ucb": StrategySpec("payhub.routing.baselines", "SlidingWindowUCB"),
    "thompson": StrategySpec("payhub.routing.baselines", "DiscountedThompson"),
    "sr_v3": StrategySpec("payhub.routing.baselines", "SuccessRateV3"),
    "payhub": StrategySpec("payhub.routing.learner", "PayhubRanker"),
    "oracle": StrategySpec("payhub.routing.baselines", "OracleRanker", needs_world=True),
}


def static_router(setup: Setup) -> Router:
    """The shipped default: the rule-preferred channel, else the first eligible channel in
    scenario order; one attempt, no cascade, nothing learnt."""
    return Router(StaticRanker(), DEFAULT_RULES, cascade=False)


def cascading_router(ranker: Ranker) -> Router:
    """How every strategy but `static` is run: the shipped rules, cascade on, 1 s budget."""
    return Router(ranker, DEFAULT_RULES, budget_ms=CASCADE_BUDGET_MS, cascade=True)


def strategy_router(name: str, registry: Mapping[str, StrategySpec] = REGISTRY) -> RouterFactory:
    """The router factory of a named strategy; StrategyUnavailableError when its code is
    missing."""
    if name == "static":
        return static_router
    spec = registry.get(name)
    if spec is None:
        known = ", ".join(["static", *registry])
        raise StrategyUnavailableError(f"unknown strategy {name!r} (known: {known})")
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and spec.module.startswith(exc.name):
            raise StrategyUnavailableError(f"{name}: {spec.module} is not there yet") from None
        raise
    cls = getattr(module, spec.attribute, None)
    if cls is None:
        raise StrategyUnavailableError(f"{name}: {spec.module} has no {spec.attribute} yet")

    def factory(setup: Setup) -> Router:
        ranker: Ranker = cls(setup.world, setup.start) if spec.needs_world else cls()
        return cascading_router(ranker)

    return factory


def resolve_strategies(
    names: Sequence[str], registry: Mapping[str, StrategySpec] = REGISTRY
) -> tuple[dict[str, RouterFactory], dict[str, str]]:
    """(factories of the strategies that exist, {missing strategy: why})."""
    found: dict[str, RouterFactory] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            found[name] = strategy_router(name, registry)
        except StrategyUnavailableError as exc:
            missing[name] = str(exc)
    return found, missing


# ---------------------------------------------------------------------------------------
# The replay
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    channel_id: str
    request_id: str
    result: Result
    latency_ms: int


@dataclass(slots=True)
class PaymentOutcome:
    """How one payment ended under one strategy."""

    key: str
    at_s: float
    issuer: str
    card_type: CardType
    amount: int
    attempts: list[Attempt] = field(default_factory=list)
    approved: bool = False
    channel_id: str | None = None  # the channel that approved it
    total_ms: float = 0.0  # arrival → final answer (queries included)
    by_query: bool = False  # the approval was learnt by querying after an unknown outcome
    queries: int = 0
    unresolved: bool = False  # every query went unanswered

    @property
    def first_attempt_success(self) -> bool:
        """Approved by the first channel tried, the customer told so at once (an approval
        learnt by query counts only when it came within 1 s)."""
        if not self.approved or len(self.attempts) != 1:
            return False
        return not self.by_query or self.total_ms < WITHIN_MS

    @property
    def within_1s(self) -> bool:
        if not self.approved:
            return False
        if self.by_query:
            return self.total_ms < WITHIN_MS
        return self.total_ms <= WITHIN_MS


@dataclass(slots=True)
class StrategyRun:
    """One strategy's replay of a scenario."""

    name: str
    outcomes: list[PaymentOutcome]
    network: SimulatedNetwork
    infos: dict[str, ChannelInfo]
    seconds: float = 0.0  # wall time of the replay

    @property
    def double_charges(self) -> int:
        return count_double_charges(self.network)

    def metrics(self) -> dict[str, float | int | None]:
        return compute_metrics(self.outcomes, self.infos, self.network)


def count_double_charges(network: SimulatedNetwork) -> int:
    """Payments with more than one approved authorisation, from the simulator's own record
    (what the channels really did, not what the router was told)."""
    per_payment = Counter(a.payment_id for a in network.authorizations())
    return sum(1 for n in per_payment.values() if n > 1)


def p90(values: Iterable[float]) -> float | None:
    """The 90th percentile, nearest rank (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def compute_metrics(
    outcomes: Sequence[PaymentOutcome],
    infos: Mapping[str, ChannelInfo],
    network: SimulatedNetwork,
) -> dict[str, float | int | None]:
    n = len(outcomes)
    approved = [o for o in outcomes if o.approved]
    fees = sum(
        infos[o.channel_id].fee(o.amount, o.card_type) for o in approved if o.channel_id is not None
    )
    approved_amount = sum(o.amount for o in approved)
    late = p90(o.total_ms for o in approved)
    return {
        "success_rate": round(len(approved) / n, 4) if n else 0.0,
        "first_attempt_success_rate": (
            round(sum(o.first_attempt_success for o in outcomes) / n, 4) if n else 0.0
        ),
        "within_1s_share": round(sum(o.within_1s for o in outcomes) / n, 4) if n else 0.0,
        "p90_ms": round(late, 1) if late is not None else None,
        "fee_bps": round(fees / approved_amount * 10_000, 2) if approved_amount else None,
        "attempts_per_payment": (
            round(sum(len(o.attempts) for o in outcomes) / n, 4) if n else 0.0
        ),
        "double_charges": count_double_charges(network),
    }


def scenario_start(scenario: Scenario) -> datetime:
    return scenario.start_at or DEFAULT_START


def card_infos(scenario: Scenario) -> dict[str, ChannelInfo]:
    """The card channels, in scenario order (the order `static` takes them in)."""
    return {cid: scenario.info(cid) for cid in scenario.channel_ids}


@dataclass(slots=True)
class _Flight:
    """A payment in progress."""

    payment: SimPayment
    ctx: Context
    decision: Decision
    outcome: PaymentOutcome
    tried: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (channel, request id)


# An answer to an authorisation, an answer to a query, or a query the resolver is due to ask.
_Kind = Literal["answer", "query_answer", "query_due"]
# (simulated second, tie-break, payment, kind, channel, request id, the channel's answer)
_Event = tuple[float, int, _Flight, _Kind, str, str, ChannelResult | None]


class _Replay:
    """The event queue of one strategy's replay."""

    def __init__(self, scenario: Scenario, router_factory: RouterFactory) -> None:
        self.scenario = scenario
        self.start = scenario_start(scenario)
        self.clock = FrozenClock(self.start)
        self.network = SimulatedNetwork(scenario, start=self.start)
        self.adapters: dict[str, SimulatedChannel] = load_channels(
            self.network, latency_mode="advance_clock", clock=self.clock
        )
        self.infos = card_infos(scenario)
        self.info_list = list(self.infos.values())
        self.router = router_factory(Setup(scenario, self.network.world, self.start))
        self._queue: list[_Event] = []
        self._seq = 0

    def _at(self, at_s: float) -> None:
        self.clock.set(self.start + timedelta(seconds=at_s))

    def _now_s(self) -> float:
        return (self.clock.now() - self.start).total_seconds()

    def _push(
        self,
        at_s: float,
        flight: _Flight,
        kind: _Kind,
        channel_id: str,
        request_id: str,
        result: ChannelResult | None = None,
    ) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at_s, self._seq, flight, kind, channel_id, request_id, result))

    async def run(
        self, payments: Sequence[SimPayment], tick: Callable[[int], None] | None = None
    ) -> list[PaymentOutcome]:
        outcomes: list[PaymentOutcome] = []
        with use_clock(self.clock):
            for n, payment in enumerate(payments):
                while self._queue and self._queue[0][0] <= payment.at_s:
                    await self._answer()
                self._at(payment.at_s)
                outcomes.append(await self._arrive(payment))
                if tick is not None and n % 500 == 499:
                    tick(500)
            while self._queue:
                await self._answer()
        if tick is not None:
            tick(len(payments) % 500)
        return outcomes

    async def _arrive(self, payment: SimPayment) -> PaymentOutcome:
        outcome = PaymentOutcome(
            payment.key, payment.at_s, payment.issuer, payment.card_type, payment.amount
        )
        ctx = Context(
            payment_key=payment.key,
            issuer=payment.issuer,
            card_type=payment.card_type,
            amount=payment.amount,
            currency=payment.currency,
            at=self.clock.now(),
        )
        decision = self.router.decide(ctx, self.info_list)
        if decision.order:
            flight = _Flight(payment, ctx, decision, outcome)
            await self._send(flight, decision.order[0])
        return outcome

    async def _send(self, flight: _Flight, channel_id: str) -> None:
        payment = flight.payment
        request_id = f"{payment.key}-{len(flight.outcome.attempts) + 1}-{channel_id}"
        flight.tried.append(channel_id)
        result = await self.adapters[channel_id].authorize(
            payment.authorize_request(request_id, payment_id=payment.key)
        )
        # The answer arrives after the call's latency (the clock has moved by it).
        self._push(self._now_s(), flight, "answer", channel_id, request_id, result)

    async def _query(self, flight: _Flight, channel_id: str, request_id: str) -> None:
        flight.outcome.queries += 1
        result = await self.adapters[channel_id].query(request_id)
        self._push(self._now_s(), flight, "query_answer", channel_id, request_id, result)

    async def _answer(self) -> None:
        at_s, _, flight, kind, channel_id, request_id, result = heapq.heappop(self._queue)
        self._at(at_s)
        outcome = flight.outcome
        if kind == "query_due":
            await self._query(flight, channel_id, request_id)
            return
        assert result is not None
        if kind == "query_answer":
            await self._resolved(flight, channel_id, request_id, result)
            return
        last = Result.of(result)
        outcome.attempts.append(Attempt(channel_id, request_id, last, result.latency_ms))
        flight.elapsed_ms += result.latency_ms
        # The strategy learns the outcome when the answer comes back.
        self.router.observe(
            replace(flight.ctx, at=self.clock.now()), channel_id, last, result.latency_ms
        )
        if last is Result.APPROVED:
            self._finish(flight, channel_id)
            return
        if last is Result.UNKNOWN:
            flight.unknown.append((channel_id, request_id))
        following = self.router.next_channel(
            flight.decision, flight.tried, last, flight.elapsed_ms, self.infos
        )
        if following is not None:
            await self._send(flight, following)
        elif flight.unknown:
            # The charge may exist: ask the channel, as the resolver does.
            await self._query(flight, *flight.unknown[0])
        else:
            self._finish(flight, None)

    async def _resolved(
        self, flight: _Flight, channel_id: str, request_id: str, result: ChannelResult
    ) -> None:
        if not result.outcome_known:
            if flight.outcome.queries >= MAX_QUERIES:
                flight.outcome.unresolved = True
                self._finish(flight, None)
                return
            # Unanswered: the resolver asks again on its next run.
            self._push(
                self._now_s() + RESOLVER_INTERVAL_S, flight, "query_due", channel_id, request_id
            )
            return
        flight.unknown.pop(0)
        if result.status is ChannelStatus.APPROVED:
            flight.outcome.by_query = True
            self._finish(flight, channel_id)
        elif flight.unknown:
            await self._query(flight, *flight.unknown[0])
        else:
            # Declined, or never received: the payment failed (a background resolution has
            # no CVV to send elsewhere).
            self._finish(flight, None)

    def _finish(self, flight: _Flight, channel_id: str | None) -> None:
        outcome = flight.outcome
        outcome.approved = channel_id is not None
        outcome.channel_id = channel_id
        outcome.total_ms = (self._now_s() - outcome.at_s) * 1000.0


def replay(
    scenario: Scenario,
    router_factory: RouterFactory,
    *,
    name: str = "",
    payments: Sequence[SimPayment] | None = None,
    tick: Callable[[int], None] | None = None,
) -> StrategyRun:
    """One strategy's replay of the scenario's payments on a fresh simulated network."""
    if payments is None:
        payments = generate_payments(scenario)
    began = time.perf_counter()
    job = _Replay(scenario, router_factory)
    outcomes = asyncio.run(job.run(payments, tick))
    run = StrategyRun(name or job.router.name, outcomes, job.network, job.infos)
    run.seconds = time.perf_counter() - began
    return run


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def gap_capture(strategies: Mapping[str, Mapping[str, Any]]) -> float | None:
    """(payhub − static) / (oracle − static) on success rate; None when one of them is
    missing or the oracle does no better than static."""
    try:
        mine = float(strategies["payhub"]["success_rate"])
        base = float(strategies["static"]["success_rate"])
        best = float(strategies["oracle"]["success_rate"])
    except KeyError:
        return None
    if best == base:
        return None
    return round((mine - base) / (best - base), 4)


def report(scenario: Scenario, runs: Mapping[str, StrategyRun]) -> dict[str, Any]:
    """The JSON figures of one scenario."""
    strategies = {name: run.metrics() for name, run in runs.items()}
    payments = len(next(iter(runs.values())).outcomes) if runs else 0
    return {
        "scenario": scenario.name,
        "payments": payments,
        "strategies": strategies,
        "oracle_gap_capture": gap_capture(strategies),
    }


@dataclass(frozen=True, slots=True)
class Target:
    label: str
    met: bool | None  # None: not measured (a strategy is missing)


def targets(figures: Mapping[str, Any]) -> list[Target]:
    """The routing targets, judged on these figures."""
    strategies: Mapping[str, Mapping[str, Any]] = figures["strategies"]
    found: list[Target] = [
        Target(
            "double_charges = 0 (every strategy)",
            all(s["double_charges"] == 0 for s in strategies.values()),
        )
    ]
    mine = strategies.get("payhub")
    for other in ("sw_ucb", "thompson", "sr_v3"):
        theirs = strategies.get(other)
        met = (
            mine["success_rate"] > theirs["success_rate"]
            if mine is not None and theirs is not None
            else None
        )
        found.append(Target(f"payhub success > {other}", met))
    capture = figures["oracle_gap_capture"]
    found.append(Target("oracle_gap_capture ≥ 0.9", None if capture is None else capture >= 0.9))
    if figures["scenario"] == SEED_BASELINE:
        static = strategies.get("static")
        found.append(
            Target("payhub success ≥ 98%", None if mine is None else mine["success_rate"] >= 0.98)
        )
        found.append(
            Target(
                "payhub within_1s_share ≥ 0.9",
                None if mine is None else mine["within_1s_share"] >= 0.9,
            )
        )
        fee_met = None
        if mine is not None and static is not None:
            fee_met = (mine["fee_bps"] or 0.0) <= (static["fee_bps"] or 0.0)
        found.append(Target("payhub fee_bps ≤ static", fee_met))
    return found


def _percent(value: Any) -> str:
    return "" if value is None else f"{value * 100:.2f}%"


def print_figures(
    figures: Mapping[str, Any], runs: Mapping[str, StrategyRun], missing: Mapping[str, str]
) -> None:
    table = Table(
        title=f"Routing on scenario {escape(figures['scenario'])}, {figures['payments']:,} payments"
    )
    columns = (
        "strategy",
        "success",
        "1st try",
        "≤1 s",
        "p90 ms",
        "fee bps",
        "tries",
        "double",
        "run s",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, m in figures["strategies"].items():
        table.add_row(
            name,
            _percent(m["success_rate"]),
            _percent(m["first_attempt_success_rate"]),
            _percent(m["within_1s_share"]),
            "" if m["p90_ms"] is None else f"{m['p90_ms']:.0f}",
            "" if m["fee_bps"] is None else f"{m['fee_bps']:.2f}",
            f"{m['attempts_per_payment']:.3f}",
            str(m["double_charges"])
            if m["double_charges"] == 0
            else f"[red]{m['double_charges']}[/]",
            f"{runs[name].seconds:.1f}",
        )
    console.print(table)
    capture = figures["oracle_gap_capture"]
    console.print(f"oracle gap capture: {'n/a' if capture is None else f'{capture:.3f}'}")
    for target in targets(figures):
        mark = {True: "[green]met   [/]", False: "[red]missed[/]", None: "[yellow]n/a   [/]"}
        console.print(f"{mark[target.met]}  {escape(target.label)}")
    for why in missing.values():
        console.print(f"[yellow]not run[/]  {escape(why)}")


# ---------------------------------------------------------------------------------------
# The chart
# ---------------------------------------------------------------------------------------


def rolling_success(
    outcomes: Sequence[PaymentOutcome], duration_s: float, window_s: float
) -> tuple[list[float], list[float]]:
    """(minutes, success rate) of the payments arriving in a window centred on each point."""
    times = [o.at_s for o in outcomes]
    ok = [0]
    for o in outcomes:
        ok.append(ok[-1] + (1 if o.approved else 0))
    xs: list[float] = []
    ys: list[float] = []
    step = window_s / 4
    centre = window_s / 2
    lo = hi = 0
    while centre <= duration_s - window_s / 2 + 1e-9:
        while lo < len(times) and times[lo] < centre - window_s / 2:
            lo += 1
        while hi < len(times) and times[hi] < centre + window_s / 2:
            hi += 1
        if hi > lo:
            xs.append(centre / 60)
            ys.append((ok[hi] - ok[lo]) / (hi - lo))
        centre += step
    return xs, ys


def _severity(incident: IncidentSpec) -> float:
    """0 (harmless) … 1 (nothing gets through), for the shading."""
    worst = 0.0
    if incident.success_multiplier is not None:
        worst = max(worst, 1.0 - min(1.0, incident.success_multiplier))
    for rate in (incident.timeout_rate, incident.lost_rate):
        if rate is not None:
            worst = max(worst, rate)
    return worst


def _span_label(group: Sequence[IncidentSpec]) -> str:
    """'netsunion × CCB: success ×0.1' (one incident) or a range over a run of them."""
    first = group[0]
    who = first.channel + (f" × {first.issuer}" if first.issuer else "")
    parts: list[str] = []
    multipliers = [i.success_multiplier for i in group if i.success_multiplier is not None]
    if multipliers:
        if len(set(multipliers)) == 1:
            parts.append(f"success ×{multipliers[0]:g}")
        else:
            parts.append(f"success ×{multipliers[0]:g}→{multipliers[-1]:g}")
    hangs = [i.timeout_rate for i in group if i.timeout_rate is not None]
    if hangs:
        parts.append(f"{'up to ' if len(set(hangs)) > 1 else ''}{max(hangs) * 100:g}% hang")
    lost = [i.lost_rate for i in group if i.lost_rate is not None]
    if lost:
        parts.append(f"{'up to ' if len(set(lost)) > 1 else ''}{max(lost) * 100:g}% lost")
    return f"{who}: {', '.join(parts)}"


def incident_groups(scenario: Scenario) -> list[list[IncidentSpec]]:
    """Incidents of one channel (× issuer) that follow each other without a gap, together
    (a staircase of incidents is one degradation)."""
    groups: list[list[IncidentSpec]] = []
    ordered = sorted(scenario.incidents, key=lambda i: (i.channel, i.issuer or "", i.start_s))
    for incident in ordered:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and (last.channel, last.issuer) == (incident.channel, incident.issuer)
            and incident.start_s <= last.end_s
        ):
            groups[-1].append(incident)
        else:
            groups.append([incident])
    return sorted(groups, key=lambda g: g[0].start_s)


def write_chart(path: Path, scenario: Scenario, runs: Mapping[str, StrategyRun]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    duration = scenario.duration_s
    if runs:
        last = max((o.at_s for run in runs.values() for o in run.outcomes), default=duration)
        duration = min(duration, last + 1e-6)
    window = min(CHART_WINDOW_S, scenario.duration_s / 20)
    fig, ax = plt.subplots(figsize=(11, 5))
    for n, group in enumerate(incident_groups(scenario)):
        if group[0].start_s >= duration:
            continue
        for incident in group:
            ax.axvspan(
                incident.start_s / 60,
                min(incident.end_s, duration) / 60,
                color="#d62728",
                alpha=0.05 + 0.2 * _severity(incident),
                linewidth=0,
                label="incident (darker: worse)" if n == 0 and incident is group[0] else None,
            )
        ax.annotate(
            _span_label(group),
            xy=(group[0].start_s / 60, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -4 - 10 * (n % 4)),
            textcoords="offset points",
            fontsize=7,
            color="#8c1c1c",
            va="top",
        )
    styles = {
        "static": ("#7f7f7f", "--"),
        "sw_ucb": ("#ff7f0e", "-"),
        "thompson": ("#2ca02c", "-"),
        "sr_v3": ("#9467bd", "-"),
        "payhub": ("#1f77b4", "-"),
        "oracle": ("#000000", ":"),
    }
    others = iter(["#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728"] * 4)
    lowest = 1.0
    for name, run in runs.items():
        xs, ys = rolling_success(run.outcomes, duration, window)
        lowest = min([lowest, *ys])
        color, style = styles.get(name) or (next(others), "-")
        ax.plot(
            xs,
            ys,
            label=name,
            color=color,
            linestyle=style,
            linewidth=2.0 if name == "payhub" else 1.2,
        )
    # Headroom above 100 % for the incident labels.
    ax.set_ylim(max(0.0, lowest - 0.02), 1.0 + (1.0 - lowest + 0.02) * 0.3)
    ax.set_yticks([tick for tick in ax.get_yticks() if tick <= 1.0 + 1e-9])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("simulated time (minutes)")
    ax.set_ylabel(f"success rate (rolling {window:g} s)")
    ax.set_title(f"Routing strategies on scenario {scenario.name}")
    ax.set_xlim(0, duration / 60)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# Scenarios and the command
# ---------------------------------------------------------------------------------------


def scenario_dirs() -> list[Path]:
    """Where the benchmark's scenarios are: `bench/scenarios` under the working directory,
    then in the source tree this module belongs to."""
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / "bench" / "scenarios"]
    if len(here.parents) > 3:
        candidates.append(here.parents[3] / "bench" / "scenarios")
    found: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and all(folder.resolve() != f.resolve() for f in found):
            found.append(folder)
    return found


def shipped_scenarios() -> dict[str, Path]:
    """The benchmark's scenarios by name (file stem)."""
    found: dict[str, Path] = {}
    for folder in scenario_dirs():
        for path in sorted(folder.glob("*.json")):
            found.setdefault(path.stem, path)
    return found


def holdout_scenarios() -> dict[str, Path]:
    """The held-out scenarios by name (file stem): never tuned on, run only when asked."""
    found: dict[str, Path] = {}
    for folder in scenario_dirs():
        for path in sorted((folder / "holdout").glob("*.json")):
            found.setdefault(path.stem, path)
    return found


def find_scenario(name_or_path: str) -> Scenario:
    """A scenario file, else a benchmark scenario by name, else one of the simulator's."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".json", ".yaml", ".yml") and path.is_file():
        return load_scenario(path)
    shipped = shipped_scenarios()
    if name_or_path in shipped:
        return load_scenario(shipped[name_or_path])
    if name_or_path in builtin_scenarios():
        return builtin_scenario(name_or_path)
    names = sorted({*shipped, *builtin_scenarios()})
    raise ScenarioError(f"no scenario {name_or_path!r}: give a file, or one of {', '.join(names)}")


def run_scenario(
    scenario: Scenario,
    factories: Mapping[str, RouterFactory],
    *,
    count: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, StrategyRun]]:
    """Replay the scenario once per strategy, all on the same payments and draws."""
    payments = generate_payments(scenario, count)
    runs: dict[str, StrategyRun] = {}
    for name, factory in factories.items():
        tick: Callable[[int], None] | None = None
        if progress is not None:
            task = progress.add_task(f"{scenario.name}: {name}", total=len(payments))

            def tick(n: int, task: Any = task) -> None:
                progress.update(task, advance=n)

        runs[name] = replay(scenario, factory, name=name, payments=payments, tick=tick)
    return report(scenario, runs), runs


def write_json(path: Path, figures: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _bench_one(
    scenario: Scenario,
    factories: Mapping[str, RouterFactory],
    missing: Mapping[str, str],
    count: int | None,
    json_path: Path | None,
    chart: Path | None,
    measures: Measures | None = None,
) -> dict[str, Any]:
    # Imported here: the measurements' modules build on this one.
    from payhub.bench.routing_measures import Measures, print_measured, run_measured

    with Progress(console=console, transient=True) as progress:
        figures, runs = run_measured(
            scenario, factories, measures or Measures(), count=count, progress=progress
        )
    print_figures(figures, runs, missing)
    print_measured(figures)
    if json_path is not None:
        write_json(json_path, figures)
    if chart is not None:
        write_chart(chart, scenario, runs)
    return figures


def routing_command(
    scenario: Annotated[
        str | None,
        typer.Option(
            help="A scenario file, or the name of a scenario under bench/scenarios "
            "(or of the simulator's own, e.g. default)."
        ),
    ] = None,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies to compare.")
    ] = ",".join(DEFAULT_STRATEGIES),
    payments: Annotated[
        int | None,
        typer.Option(min=1, help="Replay only the first N payments (default: all)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.")
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(help="Write success over simulated time per strategy (PNG) here."),
    ] = None,
    all_scenarios: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Run every tuning scenario under bench/scenarios (not the held-out ones "
            "unless --holdout); write routing-<name>.json and .png into --out-dir.",
        ),
    ] = False,
    out_dir: Annotated[
        Path, typer.Option(help="Where --all writes its figures and charts.")
    ] = Path("bench/results"),
    timing: Annotated[
        bool,
        typer.Option(
            help="Time every decide, observe and next_channel during the replay (µs p50, "
            "p99, max per strategy, warm and cold segments), against the static strategy's "
            "decision of the same payment timed alongside; JSON key `timing`."
        ),
    ] = True,
    processes: Annotated[
        str | None,
        typer.Option(
            help="Also replay with the traffic split over N independent routers, as N API "
            "processes each learning only from its own payments, for each N given (e.g. "
            "1,2,4,8): success, first attempt, gap capture per N; JSON key `processes`."
        ),
    ] = None,
    fidelity: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Also check N payments spread over the scenario through the platform's "
            "payment service and orchestrator (a temporary SQLite database) against the "
            "replay, payment by payment, one payment at a time; JSON key `fidelity`.",
        ),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Replay each scenario under several world seeds: N (the scenario's seed + 0 "
            "… N−1) or offsets k as a list (0,5,7: seed + k). The first seed gives the usual "
            "figures; JSON key `seeds`: per strategy the mean and 95 % CI of each figure, "
            "payhub − each baseline paired per seed (mean, CI, won/tied/lost), and the "
            "oracle gap capture's mean and CI. With --chart also <chart>-paired.png; with "
            "--all also routing-paired.png.",
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(min=1, help="Worker processes for the seeds after the first."),
    ] = 2,
    holdout: Annotated[
        bool,
        typer.Option(
            "--holdout",
            help="With --all, also run the held-out scenarios (bench/scenarios/holdout; "
            "routing-holdout-<name>.json and .png).",
        ),
    ] = False,
) -> None:
    """Routing strategies replayed on the bank-network simulator in simulated time, all on
    the same payments and draws: success, speed, fees and double charges."""
    names = [n.strip() for n in strategies.split(",") if n.strip()]
    if not names:
        errors.print("[red]error[/]: --strategies names no strategy")
        raise typer.Exit(2)
    measures = _measures(timing, processes, fidelity)
    offsets: list[int] | None = None
    if seeds is not None:
        from payhub.bench.routing_seeds import parse_seeds

        try:
            offsets = parse_seeds(seeds)
        except ValueError:
            errors.print("[red]error[/]: --seeds takes a count N or offsets such as 0,1,2")
            raise typer.Exit(2) from None
    if holdout and not all_scenarios:
        errors.print("[red]error[/]: --holdout goes with --all")
        raise typer.Exit(2)
    factories, missing = resolve_strategies(names)
    unknown = [why for why in missing.values() if why.startswith("unknown strategy")]
    if unknown:
        errors.print(f"[red]error[/]: {escape(unknown[0])}")
        raise typer.Exit(2)
    if not factories:
        errors.print("[red]error[/]: none of these strategies is available")
        for why in missing.values():
            errors.print(f"  {escape(why)}")
        raise typer.Exit(2)
    if all_scenarios:
        if scenario is not None or json_path is not None or chart is not None:
            errors.print(
                "[red]error[/]: --all writes into --out-dir; drop --scenario/--json/--chart"
            )
            raise typer.Exit(2)
        shipped = shipped_scenarios()
        if not shipped:
            errors.print("[red]error[/]: no bench/scenarios folder here")
            raise typer.Exit(2)
        if offsets is not None:
            _bench_all_seeds(
                shipped, holdout, factories, missing, payments, measures, offsets, jobs, out_dir
            )
            return
        chosen_all: dict[str, Scenario] = {}
        named = [*shipped.items()]
        if holdout:
            named += [(f"holdout-{name}", path) for name, path in holdout_scenarios().items()]
        for name, path in named:
            try:
                chosen_all[name] = load_scenario(path)
            except ScenarioError as exc:
                errors.print(f"[red]error[/]: {escape(str(exc))}")
                raise typer.Exit(2) from None
        for name, chosen in chosen_all.items():
            _bench_one(
                chosen,
                factories,
                missing,
                payments,
                out_dir / f"routing-{name}.json",
                out_dir / f"routing-{name}.png",
                measures,
            )
        return
    if scenario is None or json_path is None:
        errors.print("[red]error[/]: give --scenario and --json (or --all)")
        raise typer.Exit(2)
    try:
        chosen = find_scenario(scenario)
    except ScenarioError as exc:
        errors.print(f"[red]error[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    if offsets is not None:
        from payhub.bench.routing_seeds import Target, bench_seeds

        paired_chart = None if chart is None else chart.with_name(f"{chart.stem}-paired.png")
        target = Target(chosen.name, chosen.name, chosen, json_path, chart)
        bench_seeds([target], factories, missing, payments, measures, offsets, jobs, paired_chart)
        return
    _bench_one(chosen, factories, missing, payments, json_path, chart, measures)


def _bench_all_seeds(
    shipped: Mapping[str, Path],
    holdout: bool,
    factories: Mapping[str, RouterFactory],
    missing: Mapping[str, str],
    count: int | None,
    measures: Measures,
    offsets: Sequence[int],
    workers: int,
    out_dir: Path,
) -> None:
    """`--all --seeds`: every tuning scenario (and with --holdout the held-out ones) under
    every seed, then the paired chart over all of them."""
    from payhub.bench.routing_seeds import Target, bench_seeds

    found: list[Target] = []
    named = [(name, name, path) for name, path in shipped.items()]
    if holdout:
        named += [
            (f"holdout-{name}", f"{name} (held out)", path)
            for name, path in holdout_scenarios().items()
        ]
    for key, label, path in named:
        try:
            chosen = load_scenario(path)
        except ScenarioError as exc:
            errors.print(f"[red]error[/]: {escape(str(exc))}")
            raise typer.Exit(2) from None
        found.append(
            Target(
                key, label, chosen, out_dir / f"routing-{key}.json", out_dir / f"routing-{key}.png"
            )
        )
    bench_seeds(
        found, factories, missing, count, measures, offsets, workers, out_dir / "routing-paired.png"
    )


def _measures(timing: bool, processes: str | None, fidelity: int | None) -> Measures:
    """The measurements asked for on the command line (exit 2 on a bad --processes)."""
    from payhub.bench.routing_measures import Measures
    from payhub.bench.routing_processes import parse_counts

    counts: tuple[int, ...] = ()
    if processes is not None:
        try:
            counts = tuple(parse_counts(processes))
        except ValueError:
            errors.print("[red]error[/]: --processes takes positive integers, e.g. 1,2,4,8")
            raise typer.Exit(2) from None
    return Measures(timing=timing, processes=counts, fidelity=fidelity)
