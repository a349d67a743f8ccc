"""Rail choice: by destination bank, amount, time and configuration, at the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payhub.channels.base import ChannelAdapter, ChannelInfo
from payhub.core import clock
from payhub.core.clock import FrozenClock
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.settlement.payouts import flow, rails
from payhub.settlement.payouts.config import PayoutConfig, use_config
from payhub.settlement.payouts.service import PayoutOrder
from tests.settlement.payouts.helpers import available, open_party

# A Wednesday: 10:00 and 20:00 in China (UTC+8), and the Saturday after at 10:00.
OPEN = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)
EVENING = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)
LIMIT = 500_000_000  # the default scenario's IBPS per-payment limit


@pytest.fixture
def infos(rails: dict[str, ChannelAdapter]) -> dict[str, ChannelInfo]:
    return {cid: a.info for cid, a in rails.items()}


def _plan(infos: dict[str, ChannelInfo], amount: int, *, bank: str = "ICBC", at: datetime = OPEN,
          config: PayoutConfig | None = None, **extra: object) -> rails.RailPlan:  # fmt: skip
    return rails.plan(
        infos, config or PayoutConfig(), bank=bank, amount=amount, currency="CNY", at=at,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_partner_bank_accounts_go_by_internal_transfer_at_any_hour(
    infos: dict[str, ChannelInfo],
) -> None:
    for at in (OPEN, EVENING, SATURDAY):
        plan = _plan(infos, LIMIT * 3, bank="PARTNER", at=at)
        assert plan.parts == (("partner_internal", LIMIT * 3),) and plan.not_before == at


def test_up_to_the_limit_ibps_above_it_hvps(infos: dict[str, ChannelInfo]) -> None:
    assert _plan(infos, LIMIT).parts == (("ibps", LIMIT),)
    assert _plan(infos, LIMIT, at=SATURDAY).parts == (("ibps", LIMIT),)  # 7×24
    assert _plan(infos, LIMIT + 1).parts == (("hvps", LIMIT + 1),)


def test_a_configured_limit_below_the_rails_own_applies(infos: dict[str, ChannelInfo]) -> None:
    config = PayoutConfig(realtime_limit=50_000)
    assert _plan(infos, 50_000, config=config).rail == "ibps"
    assert _plan(infos, 50_001, config=config).rail == "hvps"


def test_large_payouts_may_be_split_into_real_time_parts(infos: dict[str, ChannelInfo]) -> None:
    config = PayoutConfig(large_payouts="split", realtime_limit=50_000)
    plan = _plan(infos, 120_001, config=config, at=SATURDAY)
    assert plan.parts == (("ibps", 50_000), ("ibps", 50_000), ("ibps", 20_001))
    assert _plan(infos, 100_000, config=config).parts == (("ibps", 50_000), ("ibps", 50_000))


def test_hvps_outside_business_hours_is_queued_or_refused(infos: dict[str, ChannelInfo]) -> None:
    queued = _plan(infos, LIMIT + 1, at=EVENING)
    # Thursday 08:30 in China.
    assert queued.rail == "hvps" and queued.not_before == datetime(2026, 12, 10, 0, 30, tzinfo=UTC)
    assert _plan(infos, LIMIT + 1, at=SATURDAY).not_before == datetime(
        2026, 12, 14, 0, 30, tzinfo=UTC
    )
    with pytest.raises(PayHubError) as caught:
        _plan(infos, LIMIT + 1, at=EVENING, config=PayoutConfig(closed_rail="refuse"))
    assert caught.value.code == "payout_rail_closed"


def test_a_named_rail_must_take_the_payout(infos: dict[str, ChannelInfo]) -> None:
    assert _plan(infos, 1_000, rail="hvps").parts == (("hvps", 1_000),)
    for rail, amount, bank in (("ibps", LIMIT + 1, "ICBC"), ("partner_internal", 1, "ICBC"),
                               ("nowhere", 1, "ICBC")):  # fmt: skip
        with pytest.raises(PayHubError) as caught:
            _plan(infos, amount, bank=bank, rail=rail)
        assert caught.value.code == "payout_rail_unavailable"
    with pytest.raises(PayHubError):
        _plan(infos, 1_000, rail="hvps", instant=True)  # not real time


async def test_a_queued_hvps_payout_is_sent_when_the_rail_opens(db: Database) -> None:
    moment = FrozenClock(EVENING)
    with clock.use_clock(moment), use_config(PayoutConfig(realtime_limit=50_000)):
        shop = await open_party(db, funds=200_000)
        order = PayoutOrder(shop.merchant_id, 150_000, "CNY", shop.payee_id)
        (row,) = await flow.create_and_send(db, order)
        assert row.rail == "hvps" and row.status == "pending"
        assert await available(db, shop.merchant_id) == 50_000  # reserved while queued
        assert await flow.dispatch(db) == 0  # closed for the night
        moment.set(datetime(2026, 12, 10, 0, 30, tzinfo=UTC))
        assert await flow.dispatch(db) == 1
        assert await available(db, shop.merchant_id) == 50_000
