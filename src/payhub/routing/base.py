"""The shapes every routing strategy shares.

A strategy (`Ranker`) orders the eligible channels for one payment and learns from what
each attempt gave. Eligibility, operator rules and the cascade are the engine's, shared by
every strategy, so strategies differ only in their ranking. Everything here is pure and
in memory: no database, no clock of its own (time comes in the `Context`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from payhub.channels.base import CardType, ChannelInfo, ChannelResult, ChannelStatus, DeclineClass


class Result(StrEnum):
    """What one authorisation attempt told us about the channel."""

    APPROVED = "approved"
    SOFT_DECLINE = "soft_decline"  # the channel (or issuer via it) refused; another may not
    HARD_DECLINE = "hard_decline"  # the issuer's answer for this card on any channel
    UNKNOWN = "unknown"  # timeout or lost answer
    ERROR = "error"  # the channel did not process it

    @classmethod
    def of(cls, result: ChannelResult) -> Result:
        if result.status is ChannelStatus.APPROVED:
            return cls.APPROVED
        if result.status is ChannelStatus.DECLINED:
            if result.decline_class is DeclineClass.HARD:
                return cls.HARD_DECLINE
            return cls.SOFT_DECLINE
        if not result.outcome_known:
            return cls.UNKNOWN
        return cls.ERROR


@dataclass(frozen=True, slots=True)
class Context:
    """The payment being routed, as a strategy may see it (no card number)."""

    payment_key: str
    issuer: str
    card_type: CardType
    amount: int
    currency: str
    at: datetime
    scene: str = "local_services"
    merchant_id: str = ""
    # The time the payment's attempts may take together, set by the engine when it
    # cascades (None: the first attempt is the only one).
    budget_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """Why a channel stands where it stands: the explanation stored with each payment."""

    channel_id: str
    expected_success: float
    fee_minor: int = 0
    latency_ms: float = 0.0
    segment: str = ""  # which statistics segment the estimate came from
    samples: float = 0.0  # how much evidence (may be discounted)
    note: str = ""  # e.g. "explore", "eliminated until …", "cold prior"


@dataclass(slots=True)
class Ranking:
    order: list[str]
    scores: dict[str, Score] = field(default_factory=dict)
    reason: str = ""
    # Channels to try only after every other (at the end of `order`): operator rules do not
    # put them first.
    last_resort: frozenset[str] = frozenset()


class Ranker(Protocol):
    """A routing strategy."""

    name: str

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        """Order these eligible channels (all of them, best first)."""
        ...

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        """Learn from one attempt's outcome (called for every attempt, in time order)."""
        ...

    def available(self, channel_id: str, at: datetime) -> bool:
        """False while the strategy has eliminated the channel (downtime detection). A
        channel it keeps only as a last resort is available, and listed in
        `Ranking.last_resort`."""
        ...


class StaticRanker:
    """The shipped default rule with no learning: candidates in the order given (the
    engine puts rule-preferred channels first), nothing learnt, nothing eliminated."""

    name = "static"

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        return Ranking(
            order=[c.channel_id for c in candidates],
            scores={c.channel_id: Score(c.channel_id, 0.0, note="static") for c in candidates},
            reason="static order",
        )

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        return None

    def available(self, channel_id: str, at: datetime) -> bool:
        return True
