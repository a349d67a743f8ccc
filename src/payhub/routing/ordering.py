"""How candidates are put in order once each has a value (higher is better)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Option:
    channel_id: str
    value: float  # expected success, a posterior draw or an index: higher is better
    fee_minor: int
    latency_ms: float


def strict_order(options: Sequence[Option]) -> list[str]:
    """Best value first; equal values by lower fee, then lower latency, then id (so the
    order never depends on the order candidates came in)."""
    ranked = sorted(options, key=lambda o: (-o.value, o.fee_minor, o.latency_ms, o.channel_id))
    return [o.channel_id for o in ranked]


def tolerance_order(options: Sequence[Option], tolerance: float) -> list[str]:
    """Value first, cost second: the options within `tolerance` of the best value come
    first, cheapest (then fastest) first; the rest are ordered the same way among
    themselves. With tolerance 0 this is `strict_order`."""
    remaining = sorted(options, key=lambda o: (-o.value, o.fee_minor, o.latency_ms, o.channel_id))
    order: list[str] = []
    while remaining:
        floor = remaining[0].value - tolerance
        band = [o for o in remaining if o.value >= floor]
        band.sort(key=lambda o: (o.fee_minor, o.latency_ms, -o.value, o.channel_id))
        order.extend(o.channel_id for o in band)
        remaining = [o for o in remaining if o.value < floor]
    return order
