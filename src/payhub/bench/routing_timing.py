"""What a routing decision costs in process, measured during the routing benchmark's replay.

Every strategy's router is wrapped (`TimedRouter`) for its replay: each `decide`, `observe`
and `next_channel` is timed with `time.perf_counter_ns` as the replay calls it, so the
figures come from the strategy's real state at each moment of the scenario, interleaved
with the simulator's work as in a process serving payments.

The reference, measured in the same run: for every payment, the `static` strategy's
decision on the same context, channels and rules, timed next to the strategy's own (the
two alternate which goes first, so neither always finds the caches the other warmed).
`static` is the engine's fixed work — eligibility of every channel, rule matching, the
`Decision` — with a ranking that costs nothing, so a strategy's ratio to it is what its
ranking adds, and the ratio holds whatever the machine's speed or load at that moment.

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


@dataclass(slots=True)
class Timings:
    """Nanoseconds per call, as measured during one strategy's replay."""

    decide_warm: list[int] = field(default_factory=list)
    decide_cold: list[int] = field(default_factory=list)
    observe_warm: list[int] = field(default_factory=list)
    observe_cold: list[int] = field(default_factory=list)
    next_channel: list[int] = field(default_factory=list)
    reference: list[int] = field(default_factory=list)  # static decide, same payment

    @property
    def decide(self) -> list[int]:
        return self.decide_warm + self.decide_cold

    @property
    def observe(self) -> list[int]:
        return self.observe_warm + self.observe_cold


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
        clock_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        super().__init__(inner)
        self.timings = timings
        self._clock_ns = clock_ns
        self._reference = Router(StaticRanker(), inner.rules, cascade=False) if reference else None
        self._outcomes: Counter[Segment] = Counter()
        self._decisions = 0

    def _cold(self, ctx: Context) -> bool:
        return self._outcomes[(ctx.issuer, ctx.card_type)] < COLD_OUTCOMES

    def _time_reference(self, ctx: Context, channels: Sequence[ChannelInfo]) -> None:
        if self._reference is None:
            return
        self._reference.rules = self.inner.rules
        began = self._clock_ns()
        self._reference.decide(ctx, channels)
        self.timings.reference.append(self._clock_ns() - began)

    def decide(self, ctx: Context, channels: Sequence[ChannelInfo]) -> Decision:
        self._decisions += 1
        reference_first = self._decisions % 2 == 0
        if reference_first:
            self._time_reference(ctx, channels)
        began = self._clock_ns()
        decision = self.inner.decide(ctx, channels)
        took = self._clock_ns() - began
        (self.timings.decide_cold if self._cold(ctx) else self.timings.decide_warm).append(took)
        if not reference_first:
            self._time_reference(ctx, channels)
        return decision

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        cold = self._cold(ctx)
        began = self._clock_ns()
        self.inner.observe(ctx, channel_id, result, latency_ms)
        took = self._clock_ns() - began
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
        began = self._clock_ns()
        following = self.inner.next_channel(decision, tried, last, elapsed_ms, channels)
        self.timings.next_channel.append(self._clock_ns() - began)
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


def summary(samples: Sequence[int]) -> dict[str, Any]:
    """{n, p50_us, p99_us, max_us} of nanosecond samples (nearest rank; None when empty)."""
    if not samples:
        return {"n": 0, "p50_us": None, "p99_us": None, "max_us": None}
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_us": round(_nearest_rank(ordered, 0.50) / 1000, 2),
        "p99_us": round(_nearest_rank(ordered, 0.99) / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 2),
    }


def _ratio(mine: float | None, reference: float | None) -> float | None:
    if mine is None or not reference:
        return None
    return round(mine / reference, 2)


def strategy_timing(timings: Timings) -> dict[str, Any]:
    """One strategy's figures: each call's distribution, and its decision as a multiple of
    the reference's (p50 over p50, p99 over p99)."""
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
    }


def machine_load() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the system does not say)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def timing_report(
    per_strategy: Mapping[str, Timings], *, load_before: list[float] | None
) -> dict[str, Any]:
    """The `timing` key of the routing benchmark's JSON."""
    return {
        "unit": "microseconds per call, in process (time.perf_counter_ns)",
        "reference": "static strategy's decide on the same payment, timed alongside",
        "cold_below_outcomes": COLD_OUTCOMES,
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
        "decide p50",
        "p99",
        "max",
        "p99 warm / cold",
        "observe p50 / p99",
        "next p99",
        "ref p50 / p99",
        "÷ ref p50 / p99",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, t in timing["strategies"].items():
        table.add_row(
            escape(name),
            _us(t["decide"]["p50_us"]),
            _us(t["decide"]["p99_us"]),
            _us(t["decide"]["max_us"]),
            _pair(t["decide_warm"]["p99_us"], t["decide_cold"]["p99_us"], _us),
            _pair(t["observe"]["p50_us"], t["observe"]["p99_us"], _us),
            _us(t["next_channel"]["p99_us"]),
            _pair(t["reference"]["p50_us"], t["reference"]["p99_us"], _us),
            _pair(t["decide_p50_ratio"], t["decide_p99_ratio"], _times),
        )
    console.print(table)
    load = timing.get("load_average_before")
    if load is not None:
        console.print(f"load average before the replays: {load[0]:.2f} ({timing['cpus']} CPUs)")
    for name, t in timing["strategies"].items():
        p99 = t["decide"]["p99_us"]
        if p99 is None:
            continue
        met = p99 < DECISION_P99_TARGET_US
        mark = "[green]met   [/]" if met else "[red]missed[/]"
        console.print(f"{mark}  {escape(name)} decide p99 < 1 ms ({p99:.1f} µs)")
