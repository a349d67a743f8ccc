"""The routing benchmark's decision timing: every call is counted where it belongs (warm or
cold segment, the reference beside each decision), the figures have their documented shape,
and timing changes no decision. A counting clock stands in for the real one, so nothing here
depends on how fast the machine is."""

from __future__ import annotations

import itertools
import json

import pytest

from payhub.bench.routing import replay, static_router, strategy_router
from payhub.bench.routing_timing import (
    COLD_OUTCOMES,
    Stopwatch,
    TimedRouter,
    Timings,
    strategy_timing,
    summary,
    timed_factory,
    timer_floor,
    timing_report,
)
from payhub.channels.base import CardType
from payhub.channels.sim.scenario import Scenario, scenario_from_data
from payhub.channels.sim.workload import generate_payments
from payhub.routing.base import Result, StaticRanker
from payhub.routing.engine import DEFAULT_RULES, Router, RuleSet
from tests.routing.helpers import channel, context
from tests.test_bench_routing import _world


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return scenario_from_data(_world())


def ticking(step: int) -> Stopwatch:
    """Clocks that move at every reading — the wall clock by `step` ns, the CPU clock by
    half that — so each timed call takes `step` ns of wall time and `step // 2` of CPU."""
    wall, cpu = itertools.count(0, step), itertools.count(0, step // 2)
    return Stopwatch(lambda: next(wall), lambda: next(cpu))


def _timed(timings: Timings, *, reference: bool = True) -> TimedRouter:
    inner = Router(StaticRanker(), DEFAULT_RULES, cascade=True)
    return TimedRouter(inner, timings, reference=reference, stopwatch=ticking(1000))


def test_decisions_are_cold_until_their_segment_has_enough_outcomes() -> None:
    timings = Timings()
    router = _timed(timings)
    channels = [channel("alpha"), channel("beta")]
    for n in range(COLD_OUTCOMES + 5):
        ctx = context(float(n), issuer="ICBC", key=f"p{n}")
        router.decide(ctx, channels)
        router.observe(ctx, "alpha", Result.APPROVED, 100)
    # Another segment starts cold, whatever ICBC debit has seen.
    other = context(99.0, issuer="ICBC", card_type=CardType.CREDIT)
    router.decide(other, channels)
    assert len(timings.decide_cold) == COLD_OUTCOMES + 1
    assert len(timings.decide_warm) == 5
    assert len(timings.observe_cold) == COLD_OUTCOMES
    assert len(timings.observe_warm) == 5
    # One reference decision beside every decision of the strategy.
    assert len(timings.reference) == COLD_OUTCOMES + 6
    # Every call read each clock twice: one tick of each.
    assert set(timings.decide + timings.observe + timings.reference) == {(1000, 500)}


def test_without_a_reference_only_the_strategy_is_timed() -> None:
    timings = Timings()
    router = _timed(timings, reference=False)
    router.decide(context(0.0), [channel("alpha")])
    assert len(timings.decide) == 1
    assert timings.reference == []


def test_the_cascade_is_timed_and_answers_as_the_engine_does() -> None:
    timings = Timings()
    router = _timed(timings)
    infos = {c.channel_id: c for c in (channel("alpha"), channel("beta"))}
    decision = router.decide(context(0.0), list(infos.values()))
    following = router.next_channel(decision, ["alpha"], Result.SOFT_DECLINE, 200.0, infos)
    assert following == "beta"
    assert router.next_channel(decision, ["alpha"], Result.UNKNOWN, 200.0, infos) is None
    assert len(timings.next_channel) == 2


def test_settings_are_the_inner_routers() -> None:
    inner = Router(StaticRanker(), DEFAULT_RULES, budget_ms=700, cascade=True)
    router = TimedRouter(inner, Timings())
    assert (router.name, router.budget_ms, router.cascade, router.rules) == (
        "static",
        700,
        True,
        DEFAULT_RULES,
    )
    # What the payment path does on a new rule version reaches the strategy's router.
    newer = RuleSet(version=3, rules=())
    router.rules = newer
    assert inner.rules is newer


def test_timing_changes_no_decision(tiny: Scenario) -> None:
    payments = generate_payments(tiny)
    for name in ("static", "payhub"):
        factory = strategy_router(name)
        plain = replay(tiny, factory, payments=payments)
        timings = Timings()
        timed = replay(tiny, timed_factory(factory, timings), payments=payments)
        assert timed.metrics() == plain.metrics()
        assert [o.attempts for o in timed.outcomes] == [o.attempts for o in plain.outcomes]
        assert len(timings.decide) == len(payments)
        assert len(timings.observe) == sum(len(o.attempts) for o in timed.outcomes)


def test_summary_is_nearest_rank_in_microseconds() -> None:
    samples = [(n * 1000, n * 500) for n in range(1, 101)]  # 1 … 100 µs wall, half in CPU
    assert summary(samples) == {
        "n": 100,
        "p50_us": 50.0,
        "p99_us": 99.0,
        "max_us": 100.0,
        "cpu_p50_us": 25.0,
        "cpu_p99_us": 49.5,
        "cpu_max_us": 50.0,
    }
    empty = summary([])
    assert empty["n"] == 0
    assert set(empty.values()) == {0, None}


def test_the_timers_own_cost_is_measured() -> None:
    assert timer_floor(ticking(300), rounds=10) == (300, 150)


def test_the_ratio_is_to_the_reference_measured_alongside() -> None:
    timings = Timings(
        # A descheduled call shows in the wall time, not in the CPU time.
        decide_warm=[(30_000, 20_000)] * 98 + [(5_000_000, 20_000), (90_000, 60_000)],
        reference=[(10_000, 5_000)] * 99 + [(20_000, 10_000)],
    )
    figures = strategy_timing(timings)
    assert figures["decide_p50_ratio"] == 3.0
    assert figures["decide_p99_ratio"] == 9.0
    assert figures["decide_cpu_p50_ratio"] == 4.0
    assert figures["decide_cpu_p99_ratio"] == 4.0
    assert figures["decide"]["max_us"] == 5000.0


def test_the_report_has_the_documented_shape(tiny: Scenario) -> None:
    timings = Timings()
    replay(tiny, timed_factory(static_router, timings), payments=generate_payments(tiny, 50))
    report = timing_report({"static": timings}, load_before=None, floor=(250, 900))
    assert report["timer_floor_us"] == {"wall": 0.25, "cpu": 0.9}
    assert set(report) == {
        "unit",
        "reference",
        "cold_below_outcomes",
        "timer_floor_us",
        "load_average_before",
        "load_average_after",
        "cpus",
        "strategies",
    }
    figures = report["strategies"]["static"]
    assert set(figures) == {
        "decide",
        "decide_warm",
        "decide_cold",
        "observe",
        "observe_warm",
        "observe_cold",
        "next_channel",
        "reference",
        "decide_p50_ratio",
        "decide_p99_ratio",
        "decide_cpu_p50_ratio",
        "decide_cpu_p99_ratio",
    }
    assert figures["decide"]["n"] == 50
    assert json.loads(json.dumps(report)) == report
