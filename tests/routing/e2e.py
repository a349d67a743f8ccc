"""The world and the traffic of the routing end-to-end tests: CMB debit cards, which two
channels take — UnionPay quick pay (97 %) and NetsUnion (90 %, the cheaper) — and from
`INCIDENT[0]` to `INCIDENT[1]` seconds UnionPay approves a tenth of what it did.

Every run meets the same world. The simulator keys its draws by the order reference when
the request has one, else by the payment id; the platform sends no reference and mints
fresh payment ids, so each run would meet other draws, and whether the strategy had
learnt the better channel by a given moment would change from run to run. Here the
channels put each payment's number in the run in the reference instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from payhub.channels.base import AuthorizeRequest, ChannelAdapter, ChannelResult
from payhub.channels.sim.adapter import SimulatedChannel
from payhub.channels.sim.network import SimulatedNetwork
from payhub.channels.sim.scenario import builtin_scenario, scenario_from_data
from payhub.core.clock import FrozenClock, use_clock
from payhub.payments.channels import use_channels
from payhub.risk.decisions.rules import NO_RULES
from tests.payments.helpers import open_shop

INCIDENT = (400, 700)  # seconds after the start: UnionPay approves a tenth of what it did
BETTER = "unionpay_quick"


class NumberedChannel(SimulatedChannel):
    """A simulated channel that keys its draws by the payment's number in the run."""

    def __init__(self, network: SimulatedNetwork, channel_id: str, numbers: dict[str, str]) -> None:
        super().__init__(network, channel_id)
        self._numbers = numbers

    async def authorize(self, request: AuthorizeRequest) -> ChannelResult:
        numbered = replace(request, reference=self._numbers[request.payment_id])
        return await super().authorize(numbered)


def world(numbers: dict[str, str]) -> dict[str, ChannelAdapter]:
    """The channels, keyed by `numbers` (payment id → its number in the run). The network's
    time starts when this is called."""
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["hard_decline_rate"] = 0.0
    data["start_at"] = None
    for channel in data["channels"]:
        better = channel["id"] == BETTER
        channel["success"] = {"default": 0.97 if better else 0.90, "by_issuer": {}}
        channel["lost_rate"] = 0.0
        channel["latency_ms"] = {"median": 120, "p99": 400}
    data["incidents"] = [
        {
            "channel": BETTER,
            "start_s": INCIDENT[0],
            "end_s": INCIDENT[1],
            "success_multiplier": 0.1,
        }
    ]
    network = SimulatedNetwork(scenario_from_data(data))
    return {cid: NumberedChannel(network, cid, numbers) for cid in network.channel_ids}


@dataclass
class Run:
    """The first channel of every payment (with its moment) and how the payments ended."""

    firsts: list[tuple[float, str]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def share(self, start_s: float, end_s: float) -> float:
        """UnionPay's share of the first attempts from `start_s` to `end_s`."""
        window = Counter(channel for at, channel in self.firsts if start_s <= at < end_s)
        return window[BETTER] / max(1, sum(window.values()))

    def succeeded(self) -> float:
        return self.outcomes["succeeded"] / sum(self.outcomes.values())


async def play(
    client: httpx.AsyncClient, as_key: Any, end_s: float, step_s: Callable[[float], float]
) -> Run:
    """Payments over HTTP with a CMB debit card until `end_s`, the next one `step_s(at)`
    seconds after the one made at `at`, on a frozen clock."""
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "debit")
    # One card paying every few seconds is card testing to the risk rules: off here.
    rules_off = await client.post("/v1/risk/rules", json={"definition": NO_RULES})
    assert rules_off.status_code == 201, rules_off.text
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    numbers: dict[str, str] = {}
    run = Run()
    with use_clock(clock):
        channels = world(numbers)
        with use_channels(channels):
            at = 0.0
            while at < end_s:
                made = await shop.paid(token, 1000 + len(run.firsts))
                numbers[made["id"]] = f"order-{len(run.firsts)}"
                answer = await shop.me.post(f"/v1/payments/{made['id']}/confirm")
                assert answer.status_code == 200, answer.text
                body = answer.json()
                run.firsts.append((at, body["decision"]["route"]["order"][0]))
                run.outcomes[body["status"]] += 1
                step = step_s(at)
                clock.advance(timedelta(seconds=step))
                at += step
    return run


def learn_then_light(at: float) -> float:
    """Two payments a second for the first five minutes (the strategy learns which channel
    is better), then one every 2 s."""
    return 0.5 if at < 300.0 else 2.0
