"""The routing engine: eligibility → operator rules → the strategy's ranking → cascade.

Shared by every strategy (the benchmark's baselines included), so strategies differ only in
how they rank. Pure and in memory; the payments orchestrator and the routing benchmark both
call it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from payhub.channels.base import ChannelInfo
from payhub.routing.base import Context, Ranker, Ranking, Result

RuleAction = Literal["prefer", "split", "exclude"]


@dataclass(frozen=True, slots=True)
class Conditions:
    """When a rule applies; None: any."""

    issuers: frozenset[str] | None = None
    card_types: frozenset[str] | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    scenes: frozenset[str] | None = None
    merchants: frozenset[str] | None = None

    def match(self, ctx: Context) -> bool:
        return (
            (self.issuers is None or ctx.issuer in self.issuers)
            and (self.card_types is None or ctx.card_type.value in self.card_types)
            and (self.min_amount is None or ctx.amount >= self.min_amount)
            and (self.max_amount is None or ctx.amount <= self.max_amount)
            and (self.scenes is None or ctx.scene in self.scenes)
            and (self.merchants is None or ctx.merchant_id in self.merchants)
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """An operator rule. `prefer`: these channels first, in this order; `split`: the first
    channel drawn by weight (deterministically per payment), the rest as ranked; `exclude`:
    never these channels."""

    id: str
    action: RuleAction
    channels: tuple[str, ...] = ()
    weights: Mapping[str, int] = field(default_factory=dict)
    when: Conditions = Conditions()


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]


# What ships: partner-bank cards try the partner bank's in-house channel first.
DEFAULT_RULES = RuleSet(
    version=0,
    rules=(
        Rule(
            id="partner_cards_in_house",
            action="prefer",
            channels=("partner_bank",),
            when=Conditions(issuers=frozenset({"PARTNER"})),
        ),
    ),
)
DEFAULT_BUDGET_MS = 1000


@dataclass(slots=True)
class Decision:
    """Where a payment goes, and why: stored with the payment."""

    order: list[str]
    ranking: Ranking
    rules_hit: list[str]
    excluded: dict[str, str]  # channel → why it was not a candidate

    def explain(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "rules_hit": list(self.rules_hit),
            "excluded": dict(self.excluded),
            "reason": self.ranking.reason,
            "scores": {
                cid: {
                    "expected_success": round(s.expected_success, 4),
                    "fee_minor": s.fee_minor,
                    "latency_ms": round(s.latency_ms, 1),
                    "segment": s.segment,
                    "samples": round(s.samples, 1),
                    "note": s.note,
                }
                for cid, s in self.ranking.scores.items()
            },
        }


def _draw(payment_key: str, rule_id: str) -> float:
    """A uniform in [0, 1) fixed by the payment and the rule, so a split is stable."""
    digest = hashlib.blake2b(f"{rule_id}:{payment_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class Router:
    """One strategy behind the shared eligibility, rules and cascade."""

    def __init__(
        self,
        ranker: Ranker,
        rules: RuleSet = DEFAULT_RULES,
        *,
        budget_ms: int = DEFAULT_BUDGET_MS,
        cascade: bool = True,
    ) -> None:
        self.ranker = ranker
        self.rules = rules
        self.budget_ms = budget_ms
        self.cascade = cascade

    @property
    def name(self) -> str:
        return self.ranker.name

    def decide(self, ctx: Context, channels: Sequence[ChannelInfo]) -> Decision:
        """The channels to try for this payment, best first (empty: none can take it)."""
        excluded: dict[str, str] = {}
        eligible: list[ChannelInfo] = []
        for info in channels:
            code = info.refusal(
                issuer=ctx.issuer,
                amount=ctx.amount,
                currency=ctx.currency,
                card_type=ctx.card_type,
                at=ctx.at,
            )
            if code is not None:
                excluded[info.channel_id] = f"does not take this payment ({code})"
            elif not self.ranker.available(info.channel_id, ctx.at):
                excluded[info.channel_id] = "eliminated for downtime"
            else:
                eligible.append(info)
        hits = [rule for rule in self.rules.rules if rule.when.match(ctx)]
        for rule in hits:
            if rule.action == "exclude":
                for info in list(eligible):
                    if info.channel_id in rule.channels:
                        eligible.remove(info)
                        excluded[info.channel_id] = f"excluded by rule {rule.id}"
        # The strategy may weigh what the cascade behind the first attempt can still do.
        ranked = replace(ctx, budget_ms=self.budget_ms if self.cascade else None)
        ranking = self.ranker.rank(ranked, eligible) if eligible else Ranking([], {}, "no channel")
        last = ranking.last_resort
        order = [cid for cid in ranking.order if cid not in last]
        for rule in reversed(hits):  # the first rule listed wins: applied last
            if rule.action == "prefer":
                first = [cid for cid in rule.channels if cid in order]
                order = first + [cid for cid in order if cid not in first]
            elif rule.action == "split":
                pick = self._split(ctx, rule, order)
                if pick is not None:
                    order = [pick] + [cid for cid in order if cid != pick]
        # A rule never puts a last-resort channel (one out for hanging) first.
        order += [cid for cid in ranking.order if cid in last]
        return Decision(order, ranking, [r.id for r in hits], excluded)

    @staticmethod
    def _split(ctx: Context, rule: Rule, order: Sequence[str]) -> str | None:
        weights = [(cid, w) for cid, w in rule.weights.items() if cid in order and w > 0]
        total = sum(w for _, w in weights)
        if total == 0:
            return None
        u = _draw(ctx.payment_key, rule.id) * total
        for cid, weight in weights:
            if u < weight:
                return cid
            u -= weight
        return weights[-1][0]

    def next_channel(
        self,
        decision: Decision,
        tried: Sequence[str],
        last: Result,
        elapsed_ms: float,
        channels: Mapping[str, ChannelInfo],
    ) -> str | None:
        """The channel to try after `last`, or None. Never after a hard decline (the issuer
        said no for this card) or an unknown outcome (the charge may exist: it must be
        resolved first); only while the time budget allows the next channel's usual
        latency."""
        if not self.cascade or last in (Result.APPROVED, Result.HARD_DECLINE, Result.UNKNOWN):
            return None
        for cid in decision.order:
            if cid in tried:
                continue
            info = channels.get(cid)
            if info is None:
                continue
            if elapsed_ms + info.latency_median_ms > self.budget_ms:
                return None
            return cid
        return None

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        self.ranker.observe(ctx, channel_id, result, latency_ms)
