from __future__ import annotations

from collections.abc import Iterator

import pytest

from payhub.channels.base import ChannelAdapter
from payhub.db.session import Database
from payhub.payments.channels import use_channels
from payhub.risk.sanctions import screening
from payhub.settlement.payouts.config import PayoutConfig, use_config
from tests.payments.helpers import static_routing
from tests.settlement.helpers import no_fee_by_default
from tests.settlement.payouts.helpers import rails_world


@pytest.fixture(autouse=True)
def predictable_routing() -> Iterator[None]:
    with static_routing():
        yield


@pytest.fixture(autouse=True)
def rails() -> Iterator[dict[str, ChannelAdapter]]:
    """Deterministic payout rails, fresh for each test."""
    with use_channels(rails_world()) as installed:
        yield dict(installed)


@pytest.fixture(autouse=True)
def payout_config() -> Iterator[PayoutConfig]:
    with use_config(PayoutConfig()) as config:
        yield config


@pytest.fixture(autouse=True)
def fresh_watch_index() -> Iterator[None]:
    screening.forget_index()
    yield
    screening.forget_index()


@pytest.fixture(autouse=True)
async def _no_merchant_fee(db: Database) -> None:
    await no_fee_by_default(db)
