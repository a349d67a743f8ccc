"""What a channel is worth as a payment's first attempt, the cascade behind it included.

The cascade tries the next channel after a decline or an error while its usual latency fits
in what is left of the time budget, and never after an unknown outcome (the charge may
exist). So the first channel is worth its own chance of approval, plus — for the share of
its attempts that end in a decline early enough for the next channel to fit — the next
channel's chance. Two channels with the same approval rate are not worth the same when one
answers its declines sooner, or when the other's failures are hangs that end the payment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the learner expects of one attempt on a channel."""

    approval: float  # P(approved)
    unknown: float  # P(the outcome is unknown: a hang or a lost answer)


@dataclass(frozen=True, slots=True)
class FirstValue:
    value: float  # P(the payment is approved) with this channel first
    rescue: float  # the share of the first attempt's failures the cascade turns into approvals


def first_value(first: Attempt, declined_in_time: float, following: Attempt | None) -> FirstValue:
    """`declined_in_time`: the chance that a decline on the first channel comes back soon
    enough for `following` (the next channel of the order, None: no cascade) to fit in
    the budget."""
    if following is None or first.approval >= 1.0:
        return FirstValue(first.approval, 0.0)
    failure = 1.0 - first.approval
    declined = max(0.0, failure - first.unknown)  # failures the cascade may go on from
    rescue = declined / failure * declined_in_time * following.approval
    return FirstValue(first.approval + failure * rescue, rescue)
