"""The bank channels payments are sent to, and the static routing between them.

For now the channels are the in-process bank-network simulator playing the default
scenario, loaded once per process. Tests (and the demo) swap in channels of their own with
`use_channels`. Routing is static: partner-bank cards go to `partner_bank` first, every
other card to `unionpay_quick`; the other eligible channels follow as fallbacks, which the
orchestrator tries only after a soft decline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from payhub.channels.base import CardType, ChannelAdapter, ChannelKind
from payhub.channels.sim.adapter import load_channels
from payhub.channels.sim.scenario import (
    Scenario,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
)
from payhub.core.config import get_settings

PARTNER_ISSUER = "PARTNER"
PARTNER_CHANNEL = "partner_bank"
DEFAULT_CHANNEL = "unionpay_quick"

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


@dataclass(frozen=True, slots=True)
class Route:
    """The channels to try, in order, and the rule that put the first one first."""

    order: list[str]
    rule: str


def route(
    *,
    issuer: str,
    card_type: str,
    amount: int,
    currency: str,
    at: datetime | None = None,
) -> Route:
    """The preferred channel (if eligible), then the other eligible channels in scenario
    order. An empty order when no channel takes the card."""
    kind = CardType(card_type)
    eligible = [
        cid
        for cid, adapter in get_channels().items()
        if adapter.info.kind is ChannelKind.CARD
        and adapter.info.accepts(
            issuer=issuer, amount=amount, currency=currency, card_type=kind, at=at
        )
    ]
    if issuer == PARTNER_ISSUER:
        preferred, rule = PARTNER_CHANNEL, "partner_cards_in_house"
    else:
        preferred, rule = DEFAULT_CHANNEL, "other_cards_unionpay_quick"
    if preferred not in eligible:
        rule = "preferred_channel_ineligible"
    first = [preferred] if preferred in eligible else []
    return Route(first + [cid for cid in eligible if cid != preferred], rule)
