"""Learning per process in the routing benchmark: the traffic split over N routers sends each
payment to one of them, which alone decides it and learns from its attempts; a split over
one router is the plain run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from payhub.bench.routing import Setup, cascading_router, replay, run_scenario, strategy_router
from payhub.bench.routing_processes import (
    SplitRouter,
    parse_counts,
    process_of,
    run_processes,
    split_factory,
)
from payhub.channels.base import ChannelInfo
from payhub.channels.sim.draws import World
from payhub.channels.sim.scenario import Scenario, scenario_from_data
from payhub.channels.sim.workload import generate_payments
from payhub.routing.base import Context, Ranking, Result, Score
from payhub.routing.engine import Router
from tests.test_bench_routing import _world


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return scenario_from_data(_world())


class Listener:
    """Ranks in the order given and notes which payments it decided and heard of."""

    name = "listener"

    def __init__(self) -> None:
        self.decided: list[str] = []
        self.heard: list[str] = []

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        self.decided.append(ctx.payment_key)
        order = [c.channel_id for c in candidates]
        return Ranking(order, {cid: Score(cid, 0.5) for cid in order}, "as given")

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        self.heard.append(ctx.payment_key)

    def available(self, channel_id: str, at: datetime) -> bool:
        return True


def test_each_payment_goes_to_one_process_drawn_by_its_key() -> None:
    keys = [f"p{n:07d}" for n in range(4000)]
    drawn = [process_of(key, 4) for key in keys]
    assert drawn == [process_of(key, 4) for key in keys]  # fixed by the key
    shares = Counter(drawn)
    assert set(shares) == {0, 1, 2, 3}
    assert all(800 <= n <= 1200 for n in shares.values())  # about a quarter each
    assert {process_of(key, 1) for key in keys} == {0}


def test_a_process_learns_only_from_its_own_payments(tiny: Scenario) -> None:
    listeners = [Listener() for _ in range(3)]
    routers = [cascading_router(listener) for listener in listeners]
    run = replay(tiny, lambda setup: SplitRouter(routers))
    assert sum(len(listener.decided) for listener in listeners) == len(run.outcomes)
    for n, listener in enumerate(listeners):
        assert listener.decided
        assert all(process_of(key, 3) == n for key in listener.decided)
        # It heard of every attempt of its payments, and of nothing else.
        assert set(listener.heard) <= set(listener.decided)
    attempts = sum(len(o.attempts) for o in run.outcomes)
    assert sum(len(listener.heard) for listener in listeners) == attempts


def test_a_split_over_one_router_is_the_plain_run(tiny: Scenario) -> None:
    payments = generate_payments(tiny)
    factory = strategy_router("payhub")
    plain = replay(tiny, factory, payments=payments)
    split = replay(tiny, split_factory(factory, 1), payments=payments)
    assert split.metrics() == plain.metrics()
    assert [o.attempts for o in split.outcomes] == [o.attempts for o in plain.outcomes]


def test_each_process_is_built_as_the_strategy_builds_it(tiny: Scenario) -> None:
    built: list[Router] = []

    def factory(setup: Setup) -> Router:
        built.append(cascading_router(Listener()))
        return built[-1]

    router = split_factory(factory, 4)(Setup(tiny, World(tiny), datetime.now(UTC)))
    assert isinstance(router, SplitRouter)
    assert router.routers == built
    assert len({id(r.ranker) for r in built}) == 4


def test_the_figures_per_number_of_processes(tiny: Scenario) -> None:
    factories = {"static": strategy_router("static"), "payhub": strategy_router("payhub")}
    figures, runs = run_scenario(tiny, factories, count=150)
    found = run_processes(tiny, factories, generate_payments(tiny, 150), [1, 2], single=runs)
    assert set(found) == {"split", "by_count"}
    assert list(found["by_count"]) == ["1", "2"]
    for per in found["by_count"].values():
        assert set(per) == {"strategies", "oracle_gap_capture"}
        assert list(per["strategies"]) == ["static", "payhub"]
    # N = 1 is the run on the whole stream.
    assert found["by_count"]["1"]["strategies"] == figures["strategies"]
    # The static strategy learns nothing: split or not, the same figures.
    assert found["by_count"]["2"]["strategies"]["static"] == figures["strategies"]["static"]


def test_the_numbers_of_processes_are_read_from_the_command_line() -> None:
    assert parse_counts("8,1,2,4,2") == [1, 2, 4, 8]
    for bad in ("", "0", "1,-2", "two"):
        with pytest.raises(ValueError):
            parse_counts(bad)
