"""The in-process adapter: one simulated channel behind the `ChannelAdapter` interface.

By default a call returns at once and only *reports* its latency (`latency_mode="report"`),
so a 20 000-payment scenario runs in seconds. `"sleep"` really awaits the latency (scaled by
`time_scale`), `"advance_clock"` moves a `FrozenClock` forward by it — use the clock installed
with `payhub.core.clock.use_clock`, so the network's simulated time moves with it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from payhub.channels.base import (
    AuthorizeRequest,
    ChannelAdapter,
    ChannelInfo,
    ChannelResult,
    PayoutRequest,
    StatementLine,
)
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import Scenario
from payhub.core.clock import FrozenClock

LatencyMode = Literal["report", "sleep", "advance_clock"]


class SimulatedChannel:
    """A channel (or payout rail) of a `SimulatedNetwork`, as an adapter."""

    def __init__(
        self,
        network: SimulatedNetwork,
        channel_id: str,
        *,
        latency_mode: LatencyMode = "report",
        clock: FrozenClock | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self._info = network.info(channel_id)  # KeyError for an unknown channel
        if latency_mode not in ("report", "sleep", "advance_clock"):
            raise ValueError(f"unknown latency_mode {latency_mode!r}")
        if latency_mode == "advance_clock" and not isinstance(clock, FrozenClock):
            raise ValueError('latency_mode "advance_clock" needs the FrozenClock to advance')
        if time_scale < 0:
            raise ValueError("time_scale must not be negative")
        self.network = network
        self.latency_mode: LatencyMode = latency_mode
        self._channel_id = channel_id
        self._clock = clock
        self._time_scale = time_scale

    def __repr__(self) -> str:
        return f"SimulatedChannel({self._channel_id!r}, latency_mode={self.latency_mode!r})"

    @property
    def channel_id(self) -> str:
        return self._channel_id

    @property
    def info(self) -> ChannelInfo:
        return self._info

    async def _took(self, result: ChannelResult) -> ChannelResult:
        """Let the call take its latency, as configured."""
        if self.latency_mode == "sleep":
            await asyncio.sleep(result.latency_ms / 1000 * self._time_scale)
        elif self.latency_mode == "advance_clock" and self._clock is not None:
            self._clock.advance(timedelta(milliseconds=result.latency_ms))
        return result

    async def authorize(self, request: AuthorizeRequest) -> ChannelResult:
        return await self._took(self.network.authorize(self._channel_id, request))

    async def capture(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        return await self._took(
            self.network.capture(self._channel_id, request_id, authorization_ref, amount)
        )

    async def refund(self, request_id: str, authorization_ref: str, amount: int) -> ChannelResult:
        return await self._took(
            self.network.refund(self._channel_id, request_id, authorization_ref, amount)
        )

    async def void(self, request_id: str, authorization_ref: str) -> ChannelResult:
        return await self._took(self.network.void(self._channel_id, request_id, authorization_ref))

    async def query(self, request_id: str) -> ChannelResult:
        return await self._took(self.network.query(self._channel_id, request_id))

    async def payout(self, request: PayoutRequest) -> ChannelResult:
        return await self._took(self.network.payout(self._channel_id, request))

    async def query_payout(self, request_id: str) -> ChannelResult:
        return await self._took(self.network.query_payout(self._channel_id, request_id))

    async def statement(
        self, channel_id: str, start: datetime, end: datetime
    ) -> list[StatementLine]:
        if channel_id != self._channel_id:
            raise ValueError(
                f"this adapter is channel {self._channel_id!r}; it has no statement for "
                f"{channel_id!r}"
            )
        return self.network.statement(channel_id, start, end)


def load_channels(
    scenario: Scenario | SimulatedNetwork,
    *,
    latency_mode: LatencyMode = "report",
    clock: FrozenClock | None = None,
    time_scale: float = 1.0,
) -> dict[str, SimulatedChannel]:
    """An adapter for every card channel and payout rail of a scenario, sharing one network
    (reach it as `adapter.network`). Pass a network to share an existing one."""
    network = scenario if isinstance(scenario, SimulatedNetwork) else SimulatedNetwork(scenario)
    return {
        channel_id: SimulatedChannel(
            network,
            channel_id,
            latency_mode=latency_mode,
            clock=clock,
            time_scale=time_scale,
        )
        for channel_id in network.channel_ids
    }


def channel_infos(scenario: Scenario) -> dict[str, ChannelInfo]:
    """Eligibility and cost of every channel and payout rail, for the router."""
    return {cid: scenario.info(cid) for cid in [*scenario.channel_ids, *scenario.rail_ids]}


if TYPE_CHECKING:
    # The simulator's adapter implements the interface (checked by mypy).
    def _conforms(channel: SimulatedChannel) -> ChannelAdapter:
        return channel
