"""End to end over HTTP with the learning router: a channel's incident starts mid-run, and
first attempts move away from it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.routing.e2e import INCIDENT, learn_then_light, play


async def test_traffic_leaves_a_failing_channel_during_an_incident(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    run = await play(client, as_key, INCIDENT[1] + 60, learn_then_light)
    before = run.share(250, INCIDENT[0])
    during = run.share(INCIDENT[0] + 60, INCIDENT[1])
    # Learnt before the incident (the strategy starts on the cheaper channel and learns the
    # better one through bounded exploration; here on two payments a second): within a
    # minute of the incident, at one payment every 2 s, traffic has moved to the other
    # channel.
    assert before >= 0.8
    assert during <= 0.2
    # The cascade rescued most of what the first channel declined.
    assert run.succeeded() >= 0.92
    states = {c["id"]: c["state"] for c in (await client.get("/v1/channels")).json()["data"]}
    # The operator's view shows what this process learnt of each channel.
    assert set(states.values()) <= {"healthy", "degraded", "eliminated"}
    assert states["netsunion"] == "healthy"
