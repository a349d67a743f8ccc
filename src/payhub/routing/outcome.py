"""What an attempt's result says about the channel, and the time scale strategies use."""

from __future__ import annotations

from datetime import datetime

from payhub.routing.base import Result


def channel_outcome(result: Result) -> bool | None:
    """True: the channel delivered; False: it failed us (soft decline, unknown outcome,
    error); None: the result says nothing about the channel — a hard decline is the issuer's
    answer for the card and would have been the same on any channel."""
    if result is Result.APPROVED:
        return True
    if result is Result.HARD_DECLINE:
        return None
    return False


def seconds(at: datetime) -> float:
    """A moment as seconds on one line (POSIX time): what half-lives and cool-offs count."""
    return at.timestamp()
