"""Which rail carries a payout: by destination bank, amount, time and configuration.

- the partner bank's own accounts: its internal transfer (instant, any time);
- otherwise up to the real-time limit: IBPS (超级网银, 7×24);
- above it: HVPS (大额, business hours, no limit), or several IBPS payouts of at most the
  limit (`large_payouts = "split"`).
A rail named by the caller is used only if it takes the payout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from payhub.channels.base import BusinessHours, ChannelInfo, ChannelKind
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.settlement.payouts.config import PayoutConfig


@dataclass(frozen=True, slots=True)
class RailPlan:
    """The payouts one withdrawal becomes: (rail, amount) parts, and when to send them."""

    parts: tuple[tuple[str, int], ...]
    not_before: datetime  # after `at` when the rail is closed and the payout queued

    @property
    def rail(self) -> str:
        return self.parts[0][0]


def next_opening(hours: BusinessHours, at: datetime) -> datetime:
    """The first moment at or after `at` when the rail is open (minute steps over a week
    would be slow: walk the days, then take the opening time)."""
    if hours.is_open(at):
        return at
    zone = timezone(timedelta(minutes=hours.utc_offset_minutes))
    local = at.astimezone(zone)
    for day in range(0, 15):
        date = (local + timedelta(days=day)).date()
        opens = datetime.combine(date, hours.opens, tzinfo=zone)
        if opens >= local and hours.is_open(opens):
            return opens.astimezone(at.tzinfo)
    raise PayHubError("payout_rail_unavailable", detail="the rail does not open in two weeks")


def _limit(config: PayoutConfig, info: ChannelInfo) -> int | None:
    if config.realtime_limit is not None:
        if info.max_amount is not None:
            return min(config.realtime_limit, info.max_amount)
        return config.realtime_limit
    return info.max_amount


def _check(info: ChannelInfo, *, bank: str, amount: int, currency: str, limit: int | None) -> None:
    """Refuse a rail that cannot take this payout (anything but its hours)."""
    code = info.refusal(issuer=bank, amount=amount, currency=currency)
    if code is not None or (limit is not None and amount > limit):
        raise PayHubError(
            "payout_rail_unavailable",
            param="rail",
            detail=f"{info.channel_id} does not take {amount} {currency} to {bank}",
        )


def _when(info: ChannelInfo, config: PayoutConfig, at: datetime) -> datetime:
    hours = info.business_hours
    if hours is None or hours.is_open(at):
        return at
    opens = next_opening(hours, at)
    if config.closed_rail == "refuse":
        raise PayHubError("payout_rail_closed", rail=info.channel_id, opens=to_rfc3339(opens))
    return opens


def plan(
    rails: Mapping[str, ChannelInfo],
    config: PayoutConfig,
    *,
    bank: str,
    amount: int,
    currency: str,
    at: datetime,
    rail: str | None = None,
    instant: bool = False,
) -> RailPlan:
    """The rail(s) for a payout of `amount` to an account at `bank`, at `at`."""
    payout_rails = {k: v for k, v in rails.items() if v.kind is ChannelKind.PAYOUT}
    if rail is not None:
        info = payout_rails.get(rail)
        if info is None:
            raise PayHubError("payout_rail_unavailable", param="rail", detail=f"no rail {rail}")
        limit = _limit(config, info) if rail == config.realtime_rail else None
        _check(info, bank=bank, amount=amount, currency=currency, limit=limit)
        if instant and info.business_hours is not None:
            raise PayHubError(
                "payout_rail_unavailable", param="instant", detail=f"{rail} is not real time"
            )
        return RailPlan(((rail, amount),), _when(info, config, at))

    partner = payout_rails.get(config.partner_rail)
    if (
        bank == config.partner_bank
        and partner is not None
        and partner.refusal(issuer=bank, amount=amount, currency=currency) is None
    ):
        return RailPlan(((partner.channel_id, amount),), at)

    realtime = payout_rails.get(config.realtime_rail)
    if realtime is None:
        raise PayHubError("payout_rail_unavailable", detail="no real-time rail is configured")
    limit = _limit(config, realtime)
    if limit is None or amount <= limit:
        _check(realtime, bank=bank, amount=amount, currency=currency, limit=limit)
        return RailPlan(((realtime.channel_id, amount),), at)

    if config.large_payouts == "split" or instant:
        # Real-time parts of at most the limit each (the last one takes the rest).
        parts = [limit] * (amount // limit) + ([amount % limit] if amount % limit else [])
        for part in parts:
            _check(realtime, bank=bank, amount=part, currency=currency, limit=limit)
        return RailPlan(tuple((realtime.channel_id, p) for p in parts), at)

    large = payout_rails.get(config.large_rail)
    if large is None:
        raise PayHubError("payout_rail_unavailable", detail="no large-value rail is configured")
    _check(large, bank=bank, amount=amount, currency=currency, limit=None)
    return RailPlan(((large.channel_id, amount),), _when(large, config, at))
