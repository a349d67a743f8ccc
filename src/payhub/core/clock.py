"""An injectable UTC clock and RFC 3339 'Z' timestamps.

Every module asks `clock.now()` instead of `datetime.now()`, so tests and the simulator
can move time. Timestamps on the wire and in storage are UTC with a 'Z' suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, simulated time)."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = ensure_utc(moment)


_clock: Clock = SystemClock()


def now() -> datetime:
    """The current time, aware and in UTC."""
    return _clock.now()


def set_clock(clock: Clock) -> Clock:
    """Replace the process clock; returns the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def ensure_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (that is how they are stored); aware ones converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_rfc3339(moment: datetime) -> str:
    """'2026-11-25T08:30:00.123456Z' — always UTC, always 'Z', microseconds only when non-zero."""
    moment = ensure_utc(moment)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; returns it in UTC."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise ValueError("not an RFC 3339 timestamp with a time zone (e.g. 2026-11-25T08:30:00Z)")
    fraction = match.group(7) or ""
    # datetime keeps microseconds only.
    fraction = fraction[:7] if fraction else ""
    base = text[: match.start(7)] if match.group(7) else text[: match.start(8)]
    offset = match.group(8)
    offset = "+00:00" if offset in ("Z", "z") else offset
    parsed = datetime.fromisoformat(base.replace("t", "T") + fraction + offset)
    return parsed.astimezone(UTC)
