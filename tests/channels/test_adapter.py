"""The in-process adapter: the interface, latency modes, the registry, eligibility."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from payhub.channels.base import (
    CardType,
    ChannelAdapter,
    ChannelKind,
    ChannelStatus,
    StatementKind,
)
from payhub.channels.sim.adapter import SimulatedChannel, channel_infos, load_channels
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import Scenario
from payhub.channels.sim.workload import generate_payments
from payhub.core.clock import FrozenClock
from tests.channels.helpers import START, auth_request, payout_request, scenario


def test_the_registry_has_every_channel_and_rail(default_scenario: Scenario) -> None:
    adapters = load_channels(default_scenario)
    assert list(adapters) == [
        "partner_bank", "unionpay_quick", "netsunion", "icbc_direct",
        "partner_internal", "ibps", "hvps",
    ]  # fmt: skip
    networks = {id(a.network) for a in adapters.values()}
    assert len(networks) == 1
    for channel_id, adapter in adapters.items():
        assert isinstance(adapter, ChannelAdapter)
        assert adapter.channel_id == channel_id == adapter.info.channel_id
    shared = SimulatedNetwork(default_scenario)
    assert load_channels(shared)["ibps"].network is shared


def test_eligibility_for_the_router(default_scenario: Scenario) -> None:
    infos = channel_infos(default_scenario)
    partner, unionpay, icbc = infos["partner_bank"], infos["unionpay_quick"], infos["icbc_direct"]
    assert partner.kind is ChannelKind.CARD and infos["hvps"].kind is ChannelKind.PAYOUT
    assert partner.issuers == frozenset({"PARTNER"}) and unionpay.issuers is None
    assert icbc.accepts(issuer="ICBC", amount=3500, currency="CNY", card_type=CardType.CREDIT)
    assert not icbc.accepts(issuer="CCB", amount=3500, currency="CNY")
    assert not unionpay.accepts(issuer="CCB", amount=3500, currency="USD")
    eligible = [
        cid
        for cid, info in infos.items()
        if info.kind is ChannelKind.CARD
        and info.accepts(issuer="PARTNER", amount=3500, currency="CNY", card_type=CardType.DEBIT)
    ]
    assert eligible == ["partner_bank", "unionpay_quick", "netsunion"]
    # The in-house channel is the cheapest for its own cards.
    assert min(eligible, key=lambda c: infos[c].fee(3500, CardType.DEBIT)) == "partner_bank"
    assert (partner.timeout_ms, partner.latency_median_ms, partner.latency_p99_ms) == (
        3000,
        80,
        300,
    )


async def test_a_payment_through_the_adapter(clock: FrozenClock) -> None:
    adapters = load_channels(scenario())
    alpha = adapters["alpha"]
    result = await alpha.authorize(auth_request("a1"))
    assert result.status is ChannelStatus.APPROVED and result.channel_ref
    ref = result.channel_ref
    assert (await alpha.capture("c1", ref, 6_000)).status is ChannelStatus.APPROVED
    assert (await alpha.refund("f1", ref, 1_000)).status is ChannelStatus.APPROVED
    assert (await alpha.void("v1", ref)).raw_code == "12"
    assert (await alpha.query("c1")).approved_amount == 6_000
    lines = await alpha.statement("alpha", START, START + timedelta(hours=1))
    assert [line.kind for line in lines] == [StatementKind.CAPTURE, StatementKind.REFUND]
    with pytest.raises(ValueError, match="no statement for 'beta'"):
        await alpha.statement("beta", START, START + timedelta(hours=1))
    rail = adapters["rail"]
    assert (await rail.payout(payout_request("p1"))).status is ChannelStatus.APPROVED
    assert (await rail.query_payout("p1")).status is ChannelStatus.APPROVED
    assert (await alpha.payout(payout_request("p2"))).raw_code == "40"
    assert alpha.network.charged_by_channel() == {"alpha": 5_000, "beta": 0}


async def test_report_mode_neither_waits_nor_moves_time(clock: FrozenClock) -> None:
    slow = scenario(alpha={"latency_ms": {"median": 2000, "p99": 2900}})
    alpha = load_channels(slow)["alpha"]
    started = time.perf_counter()
    result = await alpha.authorize(auth_request())
    assert result.latency_ms > 500
    assert time.perf_counter() - started < 0.2
    assert clock.now() == START


async def test_advance_clock_mode_moves_simulated_time(clock: FrozenClock) -> None:
    alpha = load_channels(scenario(), latency_mode="advance_clock", clock=clock)["alpha"]
    first = await alpha.authorize(auth_request("a1"))
    assert clock.now() == START + timedelta(milliseconds=first.latency_ms)
    second = await alpha.query("a1")
    assert clock.now() == START + timedelta(milliseconds=first.latency_ms + second.latency_ms)


async def test_advance_clock_mode_waits_out_a_timeout(clock: FrozenClock) -> None:
    hangs = scenario(incidents=[{"channel": "alpha", "start_s": 0, "end_s": 60, "timeout_rate": 1}])
    alpha = SimulatedChannel(
        SimulatedNetwork(hangs), "alpha", latency_mode="advance_clock", clock=clock
    )
    result = await alpha.authorize(auth_request())
    assert result.status is ChannelStatus.TIMEOUT
    assert clock.now() == START + timedelta(milliseconds=3000)


async def test_sleep_mode_really_waits(clock: FrozenClock) -> None:
    slow = scenario(alpha={"latency_ms": {"median": 1000, "p99": 1100}})
    alpha = SimulatedChannel(SimulatedNetwork(slow), "alpha", latency_mode="sleep", time_scale=0.05)
    started = time.perf_counter()
    result = await alpha.authorize(auth_request())
    elapsed = time.perf_counter() - started
    assert elapsed >= result.latency_ms / 1000 * 0.05 * 0.9
    assert elapsed < 1.0
    assert clock.now() == START


def test_adapter_configuration_errors() -> None:
    network = SimulatedNetwork(scenario(), start=START)
    with pytest.raises(KeyError, match="gamma"):
        SimulatedChannel(network, "gamma")
    with pytest.raises(ValueError, match="needs the FrozenClock"):
        SimulatedChannel(network, "alpha", latency_mode="advance_clock")
    with pytest.raises(ValueError, match="unknown latency_mode"):
        SimulatedChannel(network, "alpha", latency_mode="fast")  # type: ignore[arg-type]
    assert repr(SimulatedChannel(network, "alpha")) == (
        "SimulatedChannel('alpha', latency_mode='report')"
    )


async def test_a_whole_scenario_through_the_adapters(
    clock: FrozenClock, default_scenario: Scenario
) -> None:
    """A naive router (cheapest eligible channel, no cascade) replayed twice: same results."""

    async def replay() -> tuple[list[tuple[str, ChannelStatus, str | None, int]], dict[str, int]]:
        clock.set(START)
        adapters = load_channels(default_scenario)
        infos = {cid: a.info for cid, a in adapters.items() if a.info.kind is ChannelKind.CARD}
        statuses: list[tuple[str, ChannelStatus, str | None, int]] = []
        for p in generate_payments(default_scenario, 2000):
            clock.set(START + timedelta(seconds=p.at_s))
            eligible = [
                cid
                for cid, info in infos.items()
                if info.accepts(
                    issuer=p.issuer, amount=p.amount, currency=p.currency, card_type=p.card_type
                )
            ]
            channel_id = min(eligible, key=lambda c: infos[c].fee(p.amount, p.card_type))
            adapter = adapters[channel_id]
            result = await adapter.authorize(p.authorize_request(f"req_{p.key}"))
            statuses.append((channel_id, result.status, result.raw_code, result.latency_ms))
            if result.status is ChannelStatus.APPROVED and result.channel_ref:
                await adapter.capture(f"cap_{p.key}", result.channel_ref, p.amount)
        network = next(iter(adapters.values())).network
        return statuses, network.charged_by_channel()

    first, charged = await replay()
    second, charged_again = await replay()
    assert first == second and charged == charged_again
    approved = sum(1 for s in first if s[1] is ChannelStatus.APPROVED)
    assert 0.9 < approved / len(first) < 1
    assert sum(charged.values()) > 0
