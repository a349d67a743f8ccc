"""End to end over HTTP with the learning router: a channel's incident starts mid-run, and
first attempts move away from it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from payhub.channels.sim.adapter import load_channels
from payhub.channels.sim.scenario import builtin_scenario, scenario_from_data
from payhub.core.clock import FrozenClock, use_clock
from payhub.payments.channels import use_channels
from tests.payments.helpers import open_shop

INCIDENT = (400, 700)  # seconds after the start: UnionPay approves a tenth of what it did


def _world() -> dict[str, Any]:
    data: dict[str, Any] = builtin_scenario("default").model_dump(mode="json")
    data["hard_decline_rate"] = 0.0
    data["start_at"] = None  # the network's time starts when it is made
    for channel in data["channels"]:
        better = channel["id"] == "unionpay_quick"
        channel["success"] = {"default": 0.97 if better else 0.90, "by_issuer": {}}
        channel["lost_rate"] = 0.0
        channel["latency_ms"] = {"median": 120, "p99": 400}
    data["incidents"] = [
        {
            "channel": "unionpay_quick",
            "start_s": INCIDENT[0],
            "end_s": INCIDENT[1],
            "success_multiplier": 0.1,
        }
    ]
    return dict(load_channels(scenario_from_data(data)))


def _share(firsts: list[tuple[float, str]], start: float, end: float) -> float:
    window = Counter(channel for at, channel in firsts if start <= at < end)
    return window["unionpay_quick"] / max(1, sum(window.values()))


async def test_traffic_leaves_a_failing_channel_during_an_incident(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    shop = await open_shop(client, as_key)
    token, _ = await shop.card("CMB", "debit")
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    firsts: list[tuple[float, str]] = []
    outcomes: Counter[str] = Counter()
    with use_clock(clock):
        mapping = _world()  # the network's time starts now
        with use_channels(mapping):
            for second in range(0, 760, 2):
                made = await shop.paid(token, 1000 + second)
                answer = await shop.me.post(f"/v1/payments/{made['id']}/confirm")
                assert answer.status_code == 200, answer.text
                body = answer.json()
                firsts.append((second, body["decision"]["route"]["order"][0]))
                outcomes[body["status"]] += 1
                clock.advance(timedelta(seconds=2))
    before = _share(firsts, 250, INCIDENT[0])
    during = _share(firsts, INCIDENT[0] + 60, INCIDENT[1])
    # Within a minute of the incident, traffic has moved to the other channel. (Before it,
    # the better channel's share is still growing at this light traffic: the strategy starts
    # on the cheaper channel and learns the better one through bounded exploration.)
    assert during <= 0.2 and before - during >= 0.25
    # (How fast it comes back depends on how often the strategy re-measures a channel it
    # has ranked down; at this light traffic that is not yet bounded — see docs/routing.md.)
    # The cascade rescued most of what the first channel declined.
    assert outcomes["succeeded"] >= 0.92 * sum(outcomes.values())
    states = {c["id"]: c["state"] for c in (await client.get("/v1/channels")).json()["data"]}
    # The operator's view shows what this process learnt of each channel.
    assert set(states.values()) <= {"healthy", "degraded", "eliminated"}
    assert states["netsunion"] == "healthy"
