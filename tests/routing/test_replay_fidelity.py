"""The routing benchmark's replay decides as the platform does: the same payments, played
through the payment service and orchestrator on the test database and through the fast
replay, one payment at a time, give the same decision, attempts and ending payment by
payment."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from payhub.bench.routing import find_scenario, strategy_router
from payhub.bench.routing_fidelity import (
    Trace,
    check_strategy,
    differences,
    exercised,
    orchestrated_replay,
    payable,
    replay_traces,
    spread,
)
from payhub.channels.sim.scenario import Scenario, scenario_from_data
from payhub.channels.sim.workload import SimPayment, generate_payments
from payhub.db.session import Database
from tests.test_bench_routing import _world

# The outage scenario's hung channel (netsunion, from 1200 s): payments from just before it.
OUTAGE_FROM = 6_600


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    """Lost answers, hanging requests, hard declines and cascades within two minutes."""
    return scenario_from_data(_world())


def _tiny_sample(tiny: Scenario, count: int = 120) -> list[SimPayment]:
    return payable(generate_payments(tiny, count))


def _no_differences(replayed: Sequence[Trace], platform: Sequence[Trace]) -> None:
    found = differences(replayed, platform)
    assert not found, "\n".join(
        f"{d.key} {d.field}: {d.replay!r} != {d.platform!r}" for d in found[:5]
    )


@pytest.mark.parametrize("strategy", ["payhub", "sr_v3", "static"])
async def test_the_replay_and_the_platform_make_the_same_decisions(
    db: Database, tiny: Scenario, strategy: str
) -> None:
    sample = _tiny_sample(tiny)
    factory = strategy_router(strategy)
    platform, path = await orchestrated_replay(db, tiny, factory, sample)
    replayed = await replay_traces(tiny, factory, sample)
    _no_differences(replayed, platform)
    seen = exercised(platform)
    assert seen["payments"] == len(sample) > 100
    assert seen["hard_declined"] > 0
    assert seen["unknown_outcome"] > 0
    if strategy != "static":  # static never cascades
        assert seen["cascaded"] > 0
    # The decision was timed inside the platform's confirm, once per payment.
    assert len(path.decide.decide) == len(sample)
    assert len(path.rules_lookup) == len(sample)


async def test_a_shipped_scenario_during_an_outage(db: Database) -> None:
    """The learner on the outage scenario's payments from just before a channel starts
    hanging: unknown outcomes settled by the resolver's queries included."""
    outage = find_scenario("outage")
    sample = payable(generate_payments(outage, OUTAGE_FROM + 160)[OUTAGE_FROM:])
    check = await check_strategy(db, outage, "payhub", strategy_router("payhub"), sample)
    assert not check.differences, check.differences[:3]
    seen = exercised(check.traces)
    assert seen["unknown_outcome"] > 0
    assert seen["approved_by_query"] > 0
    assert seen["cascaded"] > 0


async def test_the_comparison_tells_strategies_apart(db: Database, tiny: Scenario) -> None:
    """What the check would report if the replay did not route as the platform does."""
    sample = _tiny_sample(tiny, 40)
    platform, _ = await orchestrated_replay(db, tiny, strategy_router("payhub"), sample)
    other = await replay_traces(tiny, strategy_router("sw_ucb"), sample)
    fields = {d.field for d in differences(other, platform)}
    assert "route" in fields


async def test_sparse_payments_replay_the_same_overlapping_or_not(tiny: Scenario) -> None:
    """When no payment is still going on as the next arrives, the benchmark's own
    (overlapping) replay is the serial one: the check speaks for the benchmark's mode."""
    sparse = scenario_from_data(_world(payments=30, duration_s=600))
    sample = generate_payments(sparse)
    factory = strategy_router("payhub")
    serial = await replay_traces(sparse, factory, sample)
    overlapping = await replay_traces(sparse, factory, sample, serial=False)
    assert not differences(serial, overlapping)


def test_the_sample_is_spread_over_the_scenario(tiny: Scenario) -> None:
    payments = generate_payments(tiny)
    sample = spread(payments, 30)
    assert len(sample) == 30
    assert sample == sorted(sample, key=lambda p: p.at_s)
    assert sample[-1].at_s > 0.9 * tiny.duration_s * (29 / 30)
    assert spread(payments, 10_000) == payable(payments)
