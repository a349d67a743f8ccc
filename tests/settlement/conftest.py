from __future__ import annotations

from collections.abc import Iterator

import pytest

from payhub.channels.base import ChannelAdapter
from payhub.payments.channels import use_channels
from tests.payments.helpers import static_routing, world


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    """Settlement tests capture through a deterministic world of their own."""
    mapping = world()
    with use_channels(mapping):
        yield mapping


@pytest.fixture(autouse=True)
def predictable_routing() -> Iterator[None]:
    with static_routing():
        yield
