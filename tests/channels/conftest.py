from __future__ import annotations

from collections.abc import Iterator

import pytest

from payhub.channels.sim.scenario import Scenario, builtin_scenario
from payhub.core.clock import FrozenClock, use_clock
from tests.channels.helpers import START


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """Simulated time, installed as the process clock, at second 0 of the test scenarios."""
    frozen = FrozenClock(START)
    with use_clock(frozen):
        yield frozen


@pytest.fixture(scope="session")
def default_scenario() -> Scenario:
    return builtin_scenario("default")
