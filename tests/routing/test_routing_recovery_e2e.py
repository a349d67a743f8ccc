"""End to end over HTTP with the learning router at light traffic: a channel's incident
starts and ends mid-run; first attempts move away from it, and come back within a few
minutes of its end (not only once exploration happens to try it again)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.routing.e2e import INCIDENT, learn_then_light, play

END_S = 1200


async def test_traffic_comes_back_to_a_channel_soon_after_its_incident(
    client: httpx.AsyncClient, as_key: Any
) -> None:
    run = await play(client, as_key, END_S, learn_then_light)
    # Learnt before the incident (five minutes at two payments a second, then light
    # traffic): the better channel takes most first attempts.
    assert run.share(300, INCIDENT[0]) >= 0.8
    # At light traffic, one payment every 2 s, within a minute of the incident traffic has
    # moved to the other channel…
    assert run.share(INCIDENT[0] + 60, INCIDENT[1]) <= 0.2
    # …and it is back within four minutes of the end, for good: the first outcomes on the
    # channel after the incident (its probe back from a cool-off, a recheck, a cascade)
    # show the drop is over, and its failures are then no longer held against it.
    assert run.share(INCIDENT[1] + 240, END_S) >= 0.8
    # The cascade rescued most of what the first channel declined.
    assert run.succeeded() >= 0.95
    states = {c["id"]: c["state"] for c in (await client.get("/v1/channels")).json()["data"]}
    assert states["unionpay_quick"] in ("healthy", "degraded")
