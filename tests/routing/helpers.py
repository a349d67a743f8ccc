"""Synthetic channels and outcome streams for strategy tests (no simulator)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from payhub.channels.base import CardType, ChannelInfo, ChannelKind
from payhub.routing.base import Context, Ranker, Result
from payhub.routing.engine import Router, RuleSet

START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
NO_RULES = RuleSet(version=0, rules=())

# P(the channel approves) for (channel, seconds since START, issuer, card type).
Truth = Callable[[str, float, str, CardType], float]


def channel(
    channel_id: str,
    *,
    fee_bps: int = 30,
    latency_ms: float = 200.0,
    issuers: frozenset[str] | None = None,
) -> ChannelInfo:
    return ChannelInfo(
        channel_id=channel_id,
        kind=ChannelKind.CARD,
        issuers=issuers,
        card_types=frozenset({CardType.DEBIT, CardType.CREDIT}),
        currencies=frozenset({"CNY"}),
        min_amount=None,
        max_amount=None,
        fee_bps_debit=fee_bps,
        fee_bps_credit=fee_bps + 25,
        fee_fixed_minor=0,
        timeout_ms=3000,
        latency_median_ms=latency_ms,
        latency_p99_ms=latency_ms * 4,
    )


def context(
    at_s: float,
    *,
    issuer: str = "ICBC",
    card_type: CardType = CardType.DEBIT,
    amount: int = 10_000,
    key: str = "p",
) -> Context:
    return Context(
        payment_key=key,
        issuer=issuer,
        card_type=card_type,
        amount=amount,
        currency="CNY",
        at=START + timedelta(seconds=at_s),
    )


def fixed(rates: dict[str, float]) -> Truth:
    return lambda cid, at_s, issuer, card: rates[cid]


@dataclass
class Trace:
    """What a played stream did: the first channel of every payment, and its note."""

    firsts: list[str | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def share(self, channel_id: str, start: int = 0, end: int | None = None) -> float:
        window = self.firsts[start:end]
        return sum(1 for c in window if c == channel_id) / len(window)

    def share_during(self, channel_id: str, start_s: float, end_s: float) -> float:
        """The channel's share of the first attempts made from `start_s` to `end_s`."""
        window = [c for c, at in zip(self.firsts, self.times, strict=True) if start_s <= at < end_s]
        return sum(1 for c in window if c == channel_id) / len(window)


def play(
    ranker: Ranker,
    channels: Sequence[ChannelInfo],
    truth: Truth,
    payments: int,
    *,
    per_second: float = 5.0,
    issuers: Sequence[str] = ("ICBC",),
    card_types: Sequence[CardType] = (CardType.DEBIT,),
    seed: int = 1,
    cascade: bool = True,
    start_s: float = 0.0,
    trace: Trace | None = None,
) -> Trace:
    """Payments every 1/per_second s through a `Router` (no rules), the first channel and
    the cascade drawing their outcomes from `truth`; the ranker observes every attempt."""
    draws = random.Random(seed)
    router = Router(ranker, NO_RULES, cascade=cascade, budget_ms=10_000)
    infos = {c.channel_id: c for c in channels}
    trace = trace if trace is not None else Trace()
    for n in range(payments):
        at_s = start_s + n / per_second
        ctx = context(
            at_s,
            issuer=issuers[n % len(issuers)],
            card_type=card_types[(n // len(issuers)) % len(card_types)],
            key=f"p{n}",
        )
        decision = router.decide(ctx, channels)
        first = decision.order[0] if decision.order else None
        trace.firsts.append(first)
        trace.times.append(at_s)
        trace.notes.append(decision.ranking.scores[first].note if first else "")
        tried: list[str] = []
        cid = first
        while cid is not None:
            tried.append(cid)
            ok = draws.random() < truth(cid, at_s, ctx.issuer, ctx.card_type)
            result = Result.APPROVED if ok else Result.SOFT_DECLINE
            router.observe(ctx, cid, result, int(infos[cid].latency_median_ms))
            cid = router.next_channel(decision, tried, result, 0.0, infos)
    return trace
