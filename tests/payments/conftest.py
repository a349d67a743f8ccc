from __future__ import annotations

from collections.abc import Iterator

import pytest

from payhub.channels.base import ChannelAdapter
from payhub.payments.channels import use_channels
from tests.payments.helpers import static_routing, world


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    """Every payment test runs against a deterministic world of its own."""
    mapping = world()
    with use_channels(mapping):
        yield mapping


@pytest.fixture(autouse=True)
def predictable_routing() -> Iterator[None]:
    """Payment tests name the channel a card goes to: they route by the shipped rule and
    the scenario's channel order (the learning strategy has tests of its own), with the
    cascade on."""
    with static_routing():
        yield
