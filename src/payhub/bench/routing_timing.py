"""What a routing decision costs in process, measured during the routing benchmark's replay.

Every strategy's router is wrapped (`TimedRouter`) for its replay: each `decide`, `observe`
and `next_channel` is timed as the replay calls it, so the figures come from the strategy's
real state at each moment of the scenario, interleaved with the simulator's work as in a
process serving payments. Two clocks per call:

- *wall* (`time.perf_counter_ns`): how long the call took, including any time the process
  was waiting for a CPU — on a busy machine a call is now and then descheduled for a few
  milliseconds, and the longer the call the more often that happens to it;
- *CPU* (`time.thread_time_ns`, read outside the wall clock's readings): what the call
  itself cost, whatever else the machine was doing. It includes the timer's own cost,
  measured at the start of the run and reported (`timer_floor_us`).

The reference, measured in the same run: for every payment, the `static` strategy's
decision on the same context, channels and rules, timed next to the strategy's own (the
two alternate which goes first, so neither always finds the caches the other warmed).
`static` is the engine's fixed work — eligibility of every channel, rule matching, the
`Decision` — with a ranking that costs nothing, so a strategy's ratio to it is what its
ranking adds, and the ratio holds whatever the machine's speed. (Not whatever its load at
the 99th percentile of wall time: how often a call is descheduled grows with its length,
so there the CPU figures are the ones to compare.)

A decision is *cold* when the strategy has been told fewer than `COLD_OUTCOMES` outcomes of
its issuer × card type so far (the learner's prior still outweighs the evidence there),
*warm* after that. The same split is made for `observe`.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.markup import escape
from rich.table import Table

from payhub.channels.base import CardType, ChannelInfo
from payhub.clikit import console
from payhub.routing.base import Context, Ranker, Result, StaticRanker
from payhub.routing.engine import Decision, Router, RuleSet

# Outcomes of an issuer × card type below which its decisions count as cold (the learner's
# `prior_strength`: until then the prior weighs as much as the evidence).
COLD_OUTCOMES = 20
# The bound on one decision, in process.
DECISION_P99_TARGET_US = 1000.0

Segment = tuple[str, CardType]
S = TypeVar("S")
# One timed call: (wall ns, CPU ns).
Sample = tuple[int, int]
Clock = Callable[[], int]


@dataclass(slots=True)
class Timings:
    """Every timed call of one strategy's replay."""

    decide_warm: list[Sample] = field(default_factory=list)
    decide_cold: list[Sample] = field(default_factory=list)
    observe_warm: list[Sample] = field(default_factory=list)
    observe_cold: list[Sample] = field(default_factory=list)
    next_channel: list[Sample] = field(default_factory=list)
    reference: list[Sample] = field(default_factory=list)  # static decide, same payment

    @property
    def decide(self) -> list[Sample]:
        return self.decide_warm + self.decide_cold

    @property
    def observe(self) -> list[Sample]:
        return self.observe_warm + self.observe_cold


class Stopwatch:
    """Reads the CPU clock outside the wall clock, so neither times the other's reading."""

    def __init__(
        self, wall_ns: Clock = time.perf_counter_ns, cpu_ns: Clock = time.thread_time_ns
    ) -> None:
        self._wall_ns = wall_ns
        self._cpu_ns = cpu_ns

    def start(self) -> Sample:
        cpu = self._cpu_ns()
        return self._wall_ns(), cpu

    def stop(self, began: Sample) -> Sample:
        wall = self._wall_ns()
        cpu = self._cpu_ns()
        return wall - began[0], cpu - began[1]


def timer_floor(stopwatch: Stopwatch | None = None, rounds: int = 2000) -> Sample:
    """The median (wall, CPU) time of timing nothing: what every figure includes."""
    watch = stopwatch or Stopwatch()
    samples = [watch.stop(watch.start()) for _ in range(rounds)]
    return _nearest_rank(sorted(w for w, _ in samples), 0.5), _nearest_rank(
        sorted(c for _, c in samples), 0.5
    )


class ForwardingRouter(Router):
    """A router that hands every call to another: the base of the benchmark's wrappers.
    The engine's settings are the inner router's, read and written through."""

    def __init__(self, inner: Router) -> None:
        # Router.__init__ is not called: every setting lives in `inner`.
        self.inner = inner

    @property
    def ranker(self) -> Ranker:
        return self.inner.ranker

    @ranker.setter
    def ranker(self, value: Ranker) -> None:
        self.inner.ranker = value

    @property
    def rules(self) -> RuleSet:
        return self.inner.rules

    @rules.setter
    def rules(self, value: RuleSet) -> None:
        self.inner.rules = value

    @property
    def budget_ms(self) -> int:
        return self.inner.budget_ms

    @budget_ms.setter
    def budget_ms(self, value: int) -> None:
        self.inner.budget_ms = value

    @property
    def cascade(self) -> bool:
        return self.inner.cascade

    @cascade.setter
    def cascade(self, value: bool) -> None:
        self.inner.cascade = value

    @property
    def name(self) -> str:
        return self.inner.name

    def decide(self, ctx: Context, channels: Sequence[ChannelInfo]) -> Decision:
        return self.inner.decide(ctx, channels)

    def next_channel(
        self,
        decision: Decision,
        tried: Sequence[str],
        last: Result,
        elapsed_ms: float,
        channels: Mapping[str, ChannelInfo],
    ) -> str | None:
        return self.inner.next_channel(decision, tried, last, elapsed_ms, channels)

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        self.inner.observe(ctx, channel_id, result, latency_ms)


class TimedRouter(ForwardingRouter):
    """Times every call to the inner router; with `reference`, also the static decision of
    the same payment (None: no reference, e.g. on the payment path)."""

    def __init__(
        self,
        inner: Router,
        timings: Timings,
        *,
        reference: bool = True,
        stopwatch: Stopwatch | None = None,
    ) -> None:
        super().__init__(inner)
        self.timings = timings
        self._watch = stopwatch or Stopwatch()
        self._reference = Router(StaticRanker(), inner.rules, cascade=False) if reference else None
        self._outcomes: Counter[Segment] = Counter()
        self._decisions = 0

    def _cold(self, ctx: Context) -> bool:
        return self._outcomes[(ctx.issuer, ctx.card_type)] < COLD_OUTCOMES

    def _time_reference(self, ctx: Context, channels: Sequence[ChannelInfo]) -> None:
        if self._reference is None:
            return
        self._reference.rules = self.inner.rules
        began = self._watch.start()
        self._reference.decide(ctx, channels)
        self.timings.reference.append(self._watch.stop(began))

    def decide(self, ctx: Context, channels: Sequence[ChannelInfo]) -> Decision:
        self._decisions += 1
        reference_first = self._decisions % 2 == 0
        if reference_first:
            self._time_reference(ctx, channels)
        began = self._watch.start()
        decision = self.inner.decide(ctx, channels)
        took = self._watch.stop(began)
        (self.timings.decide_cold if self._cold(ctx) else self.timings.decide_warm).append(took)
        if not reference_first:
            self._time_reference(ctx, channels)
        return decision

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        cold = self._cold(ctx)
        began = self._watch.start()
        self.inner.observe(ctx, channel_id, result, latency_ms)
        took = self._watch.stop(began)
        (self.timings.observe_cold if cold else self.timings.observe_warm).append(took)
        self._outcomes[(ctx.issuer, ctx.card_type)] += 1

    def next_channel(
        self,
        decision: Decision,
        tried: Sequence[str],
        last: Result,
        elapsed_ms: float,
        channels: Mapping[str, ChannelInfo],
    ) -> str | None:
        began = self._watch.start()
        following = self.inner.next_channel(decision, tried, last, elapsed_ms, channels)
        self.timings.next_channel.append(self._watch.stop(began))
        return following


def timed_factory(
    factory: Callable[[S], Router], timings: Timings, *, reference: bool = True
) -> Callable[[S], Router]:
    """The same router factory, its routers timed into `timings`."""

    def build(setup: S) -> Router:
        return TimedRouter(factory(setup), timings, reference=reference)

    return build


# ---------------------------------------------------------------------------------- figures


def _nearest_rank(ordered: Sequence[int], q: float) -> int:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _percentiles(values: Sequence[int], prefix: str = "") -> dict[str, float | None]:
    if not values:
        return {f"{prefix}p50_us": None, f"{prefix}p99_us": None, f"{prefix}max_us": None}
    ordered = sorted(values)
    return {
        f"{prefix}p50_us": round(_nearest_rank(ordered, 0.50) / 1000, 2),
        f"{prefix}p99_us": round(_nearest_rank(ordered, 0.99) / 1000, 2),
        f"{prefix}max_us": round(ordered[-1] / 1000, 2),
    }


def summary(samples: Sequence[Sample]) -> dict[str, Any]:
    """{n, p50_us, p99_us, max_us} of the wall times and the same, `cpu_`-prefixed, of the
    CPU times (nearest rank; None when there are no samples)."""
    return {
        "n": len(samples),
        **_percentiles([wall for wall, _ in samples]),
        **_percentiles([cpu for _, cpu in samples], "cpu_"),
    }


def _ratio(mine: float | None, reference: float | None) -> float | None:
    if mine is None or not reference:
        return None
    return round(mine / reference, 2)


def strategy_timing(timings: Timings) -> dict[str, Any]:
    """One strategy's figures: each call's distribution, and its decision as a multiple of
    the reference's (p50 over p50, p99 over p99; wall and CPU)."""
    decide = summary(timings.decide)
    reference = summary(timings.reference)
    return {
        "decide": decide,
        "decide_warm": summary(timings.decide_warm),
        "decide_cold": summary(timings.decide_cold),
        "observe": summary(timings.observe),
        "observe_warm": summary(timings.observe_warm),
        "observe_cold": summary(timings.observe_cold),
        "next_channel": summary(timings.next_channel),
        "reference": reference,
        "decide_p50_ratio": _ratio(decide["p50_us"], reference["p50_us"]),
        "decide_p99_ratio": _ratio(decide["p99_us"], reference["p99_us"]),
        "decide_cpu_p50_ratio": _ratio(decide["cpu_p50_us"], reference["cpu_p50_us"]),
        "decide_cpu_p99_ratio": _ratio(decide["cpu_p99_us"], reference["cpu_p99_us"]),
    }


def machine_load() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the system does not say)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def timing_report(
    per_strategy: Mapping[str, Timings],
    *,
    load_before: list[float] | None,
    floor: Sample | None = None,
) -> dict[str, Any]:
    """The `timing` key of the routing benchmark's JSON."""
    return {
        "unit": "microseconds per call, in process: wall (perf_counter) and cpu_ (thread time)",
        "reference": "static strategy's decide on the same payment, timed alongside",
        "cold_below_outcomes": COLD_OUTCOMES,
        "timer_floor_us": None
        if floor is None
        else {"wall": round(floor[0] / 1000, 2), "cpu": round(floor[1] / 1000, 2)},
        "load_average_before": load_before,
        "load_average_after": machine_load(),
        "cpus": os.cpu_count(),
        "strategies": {name: strategy_timing(t) for name, t in per_strategy.items()},
    }


def _us(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _pair(first: float | None, second: float | None, fmt: Callable[[float | None], str]) -> str:
    return f"{fmt(first)} / {fmt(second)}"


def _times(value: float | None) -> str:
    return "" if value is None else f"×{value:.2f}"


def print_timing(timing: Mapping[str, Any]) -> None:
    table = Table(title="Cost in process, µs per call (reference: static decide, same payment)")
    columns = (
        "strategy",
        "decide p50 / p99 / max",
        "CPU p50 / p99",
        "CPU p99 warm / cold",
        "observe CPU p50 / p99",
        "next CPU p99",
        "ref p50 / p99",
        "ref CPU p50 / p99",
        "÷ ref p50 / p99",
        "÷ ref CPU p50 / p99",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, t in timing["strategies"].items():
        decide, reference = t["decide"], t["reference"]
        table.add_row(
            escape(name),
            f"{_us(decide['p50_us'])} / {_us(decide['p99_us'])} / {_us(decide['max_us'])}",
            _pair(decide["cpu_p50_us"], decide["cpu_p99_us"], _us),
            _pair(t["decide_warm"]["cpu_p99_us"], t["decide_cold"]["cpu_p99_us"], _us),
            _pair(t["observe"]["cpu_p50_us"], t["observe"]["cpu_p99_us"], _us),
            _us(t["next_channel"]["cpu_p99_us"]),
            _pair(reference["p50_us"], reference["p99_us"], _us),
            _pair(reference["cpu_p50_us"], reference["cpu_p99_us"], _us),
            _pair(t["decide_p50_ratio"], t["decide_p99_ratio"], _times),
            _pair(t["decide_cpu_p50_ratio"], t["decide_cpu_p99_ratio"], _times),
        )
    console.print(table)
    load, floor = timing.get("load_average_before"), timing.get("timer_floor_us")
    if load is not None:
        console.print(f"load average before the replays: {load[0]:.2f} ({timing['cpus']} CPUs)")
    if floor is not None:
        console.print(f"timing nothing costs {floor['wall']} µs wall, {floor['cpu']} µs CPU")
    for name, t in timing["strategies"].items():
        wall, cpu = t["decide"]["p99_us"], t["decide"]["cpu_p99_us"]
        if cpu is None:
            continue
        met = cpu < DECISION_P99_TARGET_US
        mark = "[green]met   [/]" if met else "[red]missed[/]"
        console.print(
            f"{mark}  {escape(name)} decide p99 < 1 ms: {cpu:.1f} µs CPU ({wall:.1f} µs wall)"
        )
