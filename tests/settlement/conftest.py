from __future__ import annotations

from collections.abc import Iterator

import pytest

from payhub.channels.base import ChannelAdapter
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.risk.decisions import service as risk
from payhub.risk.decisions.rules import NO_RULES
from tests.payments.helpers import static_routing, world


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    """A deterministic world: every channel approves at once."""
    mapping = world()
    with use_channels(mapping):
        yield mapping


@pytest.fixture(autouse=True)
def predictable_routing() -> Iterator[None]:
    """The shipped rule and the scenario's channel order: tests name the channel."""
    with static_routing():
        yield


@pytest.fixture(autouse=True)
async def _risk_rules_off(db: Database) -> None:
    # The same card paying again and again is card testing to the risk rules: off here.
    await db.run_in_transaction(lambda s: risk.publish(s, NO_RULES, created_by="tests"))
