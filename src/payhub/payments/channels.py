"""The bank channels payments are sent to: the in-process bank-network simulator playing
the configured scenario, or HTTP adapters to a `payhub sim serve`, built once per process.
Tests (and the demo) swap in channels of their own with `use_channels`. Which channel a
payment tries is `payhub.routing`'s decision."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from payhub.channels.base import ChannelAdapter
from payhub.channels.sim.adapter import load_channels
from payhub.channels.sim.scenario import (
    Scenario,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
)
from payhub.core.config import get_settings

_channels: Mapping[str, ChannelAdapter] | None = None


def configured_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, else a scenario file."""
    if name_or_path in builtin_scenarios():
        return builtin_scenario(name_or_path)
    return load_scenario(name_or_path)


def _configured_channels() -> dict[str, ChannelAdapter]:
    settings = get_settings()
    if settings.channels_url:
        # A `payhub sim serve` elsewhere: its channel list is fetched once, at first use.
        from payhub.channels.http import load_http_channels_sync

        secret = settings.channels_secret.get_secret_value()
        return dict(load_http_channels_sync(settings.channels_url, secret))
    scenario = configured_scenario(settings.sim_scenario)
    return dict(load_channels(scenario, latency_mode=settings.sim_latency))


def get_channels() -> Mapping[str, ChannelAdapter]:
    """Every channel adapter by id, built from the settings on first use."""
    global _channels
    if _channels is None:
        _channels = _configured_channels()
    return _channels


def set_channels(
    channels: Mapping[str, ChannelAdapter] | None,
) -> Mapping[str, ChannelAdapter] | None:
    """Install channels (None: back to the default scenario on next use); returns the old."""
    global _channels
    previous, _channels = _channels, channels
    return previous


@contextmanager
def use_channels(channels: Mapping[str, ChannelAdapter]) -> Iterator[Mapping[str, ChannelAdapter]]:
    """Use these channels within the block (tests: a scenario of their own)."""
    previous = set_channels(channels)
    try:
        yield channels
    finally:
        set_channels(previous)


def get_channel(channel_id: str) -> ChannelAdapter:
    return get_channels()[channel_id]
