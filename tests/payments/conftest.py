from __future__ import annotations

from collections.abc import Iterator

import pytest

from payhub.channels.base import ChannelAdapter
from payhub.payments.channels import use_channels
from tests.payments.helpers import world


@pytest.fixture(autouse=True)
def channels() -> Iterator[dict[str, ChannelAdapter]]:
    """Every payment test runs against a deterministic world of its own."""
    mapping = world()
    with use_channels(mapping):
        yield mapping
