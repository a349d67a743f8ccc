"""What the learner knows about each channel, as reported (e.g. by `GET /v1/channels`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payhub.routing.health import HealthState


@dataclass(frozen=True, slots=True)
class SegmentSnapshot:
    """One statistics segment of a channel: an issuer, a card type, or both."""

    segment: str  # "ICBC", "credit" or "ICBC/credit"
    success_rate: float | None  # discounted; None once every outcome has decayed away
    volume: float  # discounted outcome count
    volume_raw: int  # outcomes ever counted

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "success_rate": _round(self.success_rate, 4),
            "volume": round(self.volume, 1),
            "volume_raw": self.volume_raw,
        }


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    channel_id: str
    state: HealthState
    available: bool
    probing: bool  # back from a cool-off, awaiting its probe
    eliminated_until: datetime | None
    cool_off_s: float  # the cool-off the next elimination would last
    eliminations: int  # times eliminated so far (a failed probe counts again)
    success_rate: float | None  # discounted, all segments (hard declines never count)
    recent_success_rate: float | None  # the downtime-detection window
    long_run_success_rate: float  # what the window is compared with
    volume: float
    volume_raw: int
    latency_ms: float | None  # time-discounted mean
    latency_p50_ms: float | None  # over the most recent answers
    latency_p90_ms: float | None
    segments: tuple[SegmentSnapshot, ...]
    # Issuers for which a drop is open: the channel's outcomes for them are held apart until
    # they show it is back (and it is rechecked while they are stale).
    drops: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, without the channel id (the key it is filed under)."""
        return {
            "state": self.state.value,
            "available": self.available,
            "probing": self.probing,
            "eliminated_until": (
                self.eliminated_until.isoformat() if self.eliminated_until else None
            ),
            "cool_off_s": self.cool_off_s,
            "eliminations": self.eliminations,
            "success_rate": _round(self.success_rate, 4),
            "recent_success_rate": _round(self.recent_success_rate, 4),
            "long_run_success_rate": round(self.long_run_success_rate, 4),
            "volume": round(self.volume, 1),
            "volume_raw": self.volume_raw,
            "latency_ms": _round(self.latency_ms, 1),
            "latency_p50_ms": _round(self.latency_p50_ms, 1),
            "latency_p90_ms": _round(self.latency_p90_ms, 1),
            "segments": [s.as_dict() for s in self.segments],
            "drops": list(self.drops),
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
