"""PayHub's routing engine: learned success rates, bounded exploration, downtime detection,
and fee then latency as tie-breaks.

Estimates. Outcomes are counted per channel at four levels — channel; channel × issuer;
channel × card type; channel × issuer × card type — with weights that halve every
`half_life_s` seconds of payment time. The channel's rate is shrunk toward the pooled rate
of every channel (itself shrunk toward `prior_success`) as if that were `prior_strength`
earlier outcomes. The issuer's and the card type's effects on the channel — each the gap,
on the logit scale, between its own rate and the channel's — are shrunk toward zero with
the same strength and added to the channel's rate; the full segment is then shrunk toward
that. So a segment with little evidence speaks with its parents' voice, one with plenty
with its own, with no switch in between (empirical Bayes).

Change. Beside these slow statistics, each channel and each channel × issuer keeps fast
ones (`recent_half_life_s`). When the recent outcomes disagree with the slow estimate
beyond chance (a log-likelihood ratio of at least `shift_llr`), the estimate is moved to
what they say, on the logit scale: a channel whose approvals fall is passed over within a
few payments, long before the slow statistics catch up, and is still there to fall back on.
Once it is passed over its recent evidence fades, the shift lapses and a few payments
check it again. While such a drop lasts, outcomes count for only `incident_weight` in the
slow statistics: an incident is mostly remembered by the fast ones, so once it is over the
channel is not held back for a half-life by failures that no longer say anything.

Exploration. Thompson sampling from each candidate's Beta posterior picks the first
channel — but only while the share of first attempts that went to exploration, discounted
over about `explore_window` decisions, stays within `explore_cap`. Otherwise the best
estimate goes first. So a worse channel gets at most `explore_cap` of the first attempts
it would not have had, and, because counts decay, no channel's posterior stays closed
forever.

Cost. Among channels whose estimate is within `tolerance` of the best, the lowest fee goes
first, then the lowest latency (a time-discounted mean of the latencies seen, starting from
the channel's stated median).

Downtime. See `payhub.routing.health`: a channel whose recent outcomes collapse is made
unavailable for a cool-off, then probed back (the probe is ranked first, once per probe
interval).

Cost of a decision: a handful of `exp` calls and dictionary lookups per candidate, and one
Beta draw per candidate when exploration is allowed; nothing walks the history. With six
channels that is tens of microseconds in CPython.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payhub.channels.base import ChannelInfo
from payhub.routing.base import Context, Ranking, Result, Score
from payhub.routing.health import DowntimeConfig, HealthMonitor
from payhub.routing.ordering import Option, tolerance_order
from payhub.routing.outcome import channel_outcome, seconds
from payhub.routing.snapshot import ChannelSnapshot, SegmentSnapshot
from payhub.routing.stats import DecayedMean, DecayedRate, RecentSamples, bernoulli_llr

# (channel, issuer or None, card type or None): None is "any".
Key = tuple[str, str | None, str | None]

_EPS = 1e-6  # keeps logits finite

SEG_FULL = "channel+issuer+card_type"
SEG_ISSUER = "channel+issuer"
SEG_CARD = "channel+card_type"
SEG_CHANNEL = "channel"
SEG_PRIOR = "prior"


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def _raw_logit(successes: float, total: float) -> float:
    """The logit of a rate with half a success and half a failure added, so it is finite."""
    return math.log((successes + 0.5) / (total - successes + 0.5))


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class Estimate:
    mean: float  # posterior mean of the success probability
    alpha: float  # the Beta posterior it is the mean of
    beta: float
    segment: str  # the finest level whose own evidence outweighs its prior
    samples: float  # discounted outcomes at that level
    shift: float = 0.0  # the logit shift recent outcomes applied (0: none)


class PayhubRanker:
    """Our routing strategy (`name = "payhub"`). See the module docstring.

    Defaults: `half_life_s` 300, `prior_success` 0.9, `prior_strength` 20 pseudo-outcomes,
    `tolerance` 0.01 (one percentage point), `explore_cap` 0.05 of first attempts over about
    `explore_window` 500 decisions, `recent_half_life_s` 30, `shift_llr` 8,
    `incident_weight` 0.25,
    `latency_prior_weight` 5 pseudo-samples of the stated median, `latency_samples` 256
    kept for percentiles, `downtime` `DowntimeConfig()`.
    Randomness comes from `rng`, else from `random.Random(seed)` (seed 0)."""

    name = "payhub"

    def __init__(
        self,
        *,
        seed: int = 0,
        rng: random.Random | None = None,
        half_life_s: float = 300.0,
        prior_success: float = 0.9,
        prior_strength: float = 20.0,
        tolerance: float = 0.01,
        explore_cap: float = 0.05,
        explore_window: int = 500,
        recent_half_life_s: float = 30.0,
        shift_llr: float = 8.0,
        incident_weight: float = 0.25,
        latency_prior_weight: float = 5.0,
        latency_samples: int = 256,
        downtime: DowntimeConfig = DowntimeConfig(),
    ) -> None:
        if not 0.0 < prior_success < 1.0:
            raise ValueError("prior_success must be strictly between 0 and 1")
        if prior_strength <= 0.0 or latency_prior_weight <= 0.0:
            raise ValueError("prior strengths must be positive")
        if shift_llr <= 0.0 or not 0.0 < incident_weight <= 1.0:
            raise ValueError("need shift_llr > 0 and 0 < incident_weight <= 1")
        if tolerance < 0.0 or not 0.0 <= explore_cap <= 1.0 or explore_window < 1:
            raise ValueError("need tolerance >= 0, 0 <= explore_cap <= 1, explore_window >= 1")
        self._rng = rng if rng is not None else random.Random(seed)  # noqa: S311 (not security)
        self.half_life_s = half_life_s
        self.prior_success = prior_success
        self.prior_strength = prior_strength
        self.tolerance = tolerance
        self.explore_cap = explore_cap
        self._keep = 1.0 - 1.0 / explore_window  # per-decision discount of the budget
        self.latency_prior_weight = latency_prior_weight
        self._latency_samples = latency_samples
        self._pooled = DecayedRate(half_life_s)
        self._stats: dict[Key, DecayedRate] = {}
        self.recent_half_life_s = recent_half_life_s
        self.shift_llr = shift_llr
        self.incident_weight = incident_weight
        self._recent: dict[Key, DecayedRate] = {}  # channel and channel × issuer, fast
        self._latency: dict[str, DecayedMean] = {}
        self._recent_latency: dict[str, RecentSamples] = {}
        self._stated_latency: dict[str, float] = {}
        self.health = HealthMonitor(
            downtime, prior_success=prior_success, prior_strength=prior_strength
        )
        self._decisions = 0.0  # discounted
        self._explored = 0.0  # discounted
        self._last_at = -math.inf

    # -- the Ranker protocol ---------------------------------------------------------------

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        ids = [info.channel_id for info in candidates]
        self.health.note_candidates(ctx.issuer, ids)
        if not candidates:
            return Ranking([], {}, "no channel")
        at = seconds(ctx.at)
        card = ctx.card_type.value
        pooled = self._pooled.mean(at, self.prior_success, self.prior_strength)
        estimates: dict[str, Estimate] = {}
        options: list[Option] = []
        for info in candidates:
            cid = info.channel_id
            self._stated_latency.setdefault(cid, info.latency_median_ms)
            est = self._estimate(cid, ctx.issuer, card, at, pooled)
            estimates[cid] = est
            options.append(
                Option(
                    cid,
                    est.mean,
                    info.fee(ctx.amount, ctx.card_type),
                    self._latency_estimate(cid, at, info.latency_median_ms),
                )
            )
        greedy = tolerance_order(options, self.tolerance)
        first, how = greedy[0], ""
        probe = next((cid for cid in ids if self.health.probe_due(cid, at)), None)
        if probe is not None:
            first, how = probe, "probe"
            self.health.probe_sent(probe, at)
        elif len(candidates) > 1 and self._may_explore():
            drawn = [
                Option(
                    o.channel_id,
                    self._rng.betavariate(
                        estimates[o.channel_id].alpha, estimates[o.channel_id].beta
                    ),
                    o.fee_minor,
                    o.latency_ms,
                )
                for o in options
            ]
            pick = tolerance_order(drawn, self.tolerance)[0]
            if pick != first:
                first, how = pick, "explore"
        self._count_decision(explored=how == "explore")
        order = [first, *(cid for cid in greedy if cid != first)]
        scores = {
            o.channel_id: Score(
                o.channel_id,
                estimates[o.channel_id].mean,
                fee_minor=o.fee_minor,
                latency_ms=o.latency_ms,
                segment=estimates[o.channel_id].segment,
                samples=estimates[o.channel_id].samples,
                note=self._note(o.channel_id, first, how, estimates[o.channel_id]),
            )
            for o in options
        }
        return Ranking(order, scores, self._reason(first, how, greedy[0], scores))

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        at = seconds(ctx.at)
        self._last_at = max(self._last_at, at)
        if latency_ms > 0:  # an error before sending has no latency to learn from
            self._latency_of(channel_id).add(float(latency_ms), at)
            self._recent_latency_of(channel_id).add(float(latency_ms))
        ok = channel_outcome(result)
        if ok is None:
            return  # a hard decline: the issuer's answer, not the channel's doing
        card = ctx.card_type.value
        weight = self._weight(channel_id, ctx.issuer, at)
        for key in (
            (channel_id, None, None),
            (channel_id, ctx.issuer, None),
            (channel_id, None, card),
            (channel_id, ctx.issuer, card),
        ):
            counter = self._stats.get(key)
            if counter is None:
                counter = self._stats[key] = DecayedRate(self.half_life_s)
            counter.add(ok, at, weight)
        for key in ((channel_id, None, None), (channel_id, ctx.issuer, None)):
            counter = self._recent.get(key)
            if counter is None:
                counter = self._recent[key] = DecayedRate(self.recent_half_life_s)
            counter.add(ok, at)
        self._pooled.add(ok, at)
        self.health.record(channel_id, ctx.issuer, ok, at, hung=result is Result.UNKNOWN)

    def available(self, channel_id: str, at: datetime) -> bool:
        return self.health.available(channel_id, seconds(at))

    # -- estimates -------------------------------------------------------------------------

    def _counts(self, key: Key, at: float) -> tuple[float, float]:
        counter = self._stats.get(key)
        return counter.counts(at) if counter is not None else (0.0, 0.0)

    def _channel(self, cid: str, at: float, pooled: float) -> tuple[float, float, float]:
        """(the channel's estimate, its evidence, the logit of its raw rate)."""
        successes, failures = self._counts((cid, None, None), at)
        total = successes + failures
        estimate = (successes + self.prior_strength * pooled) / (total + self.prior_strength)
        return estimate, total, _raw_logit(successes, total)

    def _effect(self, key: Key, base: float, at: float) -> tuple[float, float]:
        """(a segment's effect on its channel's logit, shrunk toward none; its evidence).
        Measured against the channel's raw rate, not its shrunk one: when one issuer is all
        of a channel's traffic, its effect is then exactly zero, not a shrinkage gap."""
        successes, failures = self._counts(key, at)
        total = successes + failures
        shrink = total / (total + self.prior_strength)
        return shrink * (_raw_logit(successes, total) - base), total

    def _estimate(self, cid: str, issuer: str, card: str, at: float, pooled: float) -> Estimate:
        m = self.prior_strength
        p_c, n_c, base = self._channel(cid, at, pooled)
        issuer_effect, n_i = self._effect((cid, issuer, None), base, at)
        card_effect, n_k = self._effect((cid, None, card), base, at)
        p_i = _logistic(_logit(p_c) + issuer_effect)
        p_mid = _logistic(_logit(p_i) + card_effect)  # the two effects add up
        s_ik, f_ik = self._counts((cid, issuer, card), at)
        n_ik = s_ik + f_ik
        alpha = s_ik + m * p_mid
        beta = f_ik + m * (1.0 - p_mid)
        mean = alpha / (alpha + beta)
        shift = self._shift(cid, issuer, at)
        if shift:
            # Same amount of evidence, moved to where the recent outcomes point.
            mean = _logistic(_logit(mean) + shift)
            alpha, beta = mean * (alpha + beta), (1.0 - mean) * (alpha + beta)
        # Report the finest level whose own evidence outweighs its prior.
        levels = ((SEG_FULL, n_ik), (SEG_ISSUER, n_i), (SEG_CARD, n_k), (SEG_CHANNEL, n_c))
        segment, n = next(((name, n) for name, n in levels if n >= m), (SEG_PRIOR, n_c))
        return Estimate(mean, alpha, beta, segment, n, shift)

    def _weight(self, cid: str, issuer: str, at: float) -> float:
        """How much an outcome counts in the slow statistics: `incident_weight` while the
        recent outcomes point to a drop, so an incident is not remembered for a half-life
        after it ends; fully otherwise. Half the evidence a shift needs is enough here: a
        false alarm only slows learning a little, a missed incident lingers."""
        return self.incident_weight if self._shift(cid, issuer, at, self.shift_llr / 2) < 0 else 1.0

    def _shift(self, cid: str, issuer: str, at: float, llr: float | None = None) -> float:
        """The logit shift the recent outcomes call for: the channel × issuer's if its fast
        statistics disagree with its slow ones beyond chance (a log-likelihood ratio of at
        least `llr`, default `shift_llr`), else the channel's, else none. Fast against slow
        of the same segment: a change in time, not a segment unlike its parents."""
        threshold = self.shift_llr if llr is None else llr
        for key in ((cid, issuer, None), (cid, None, None)):
            fast = self._recent.get(key)
            slow = self._stats.get(key)
            if fast is None or slow is None:
                continue
            s_slow, f_slow = slow.counts(at)
            before = (s_slow + 0.5) / (s_slow + f_slow + 1.0)  # never 0 or 1
            successes, failures = fast.counts(at)
            total = successes + failures
            if bernoulli_llr(successes, total, before) >= threshold:
                now = (successes + before) / (total + 1.0)
                return _logit(now) - _logit(before)
        return 0.0

    def _latency_of(self, cid: str) -> DecayedMean:
        mean = self._latency.get(cid)
        if mean is None:
            mean = self._latency[cid] = DecayedMean(self.half_life_s)
        return mean

    def _recent_latency_of(self, cid: str) -> RecentSamples:
        samples = self._recent_latency.get(cid)
        if samples is None:
            samples = self._recent_latency[cid] = RecentSamples(self._latency_samples)
        return samples

    def _latency_estimate(self, cid: str, at: float, stated: float) -> float:
        mean = self._latency.get(cid)
        if mean is None:
            return stated
        return mean.blended(at, stated, self.latency_prior_weight)

    # -- exploration budget ----------------------------------------------------------------

    def _may_explore(self) -> bool:
        """Would exploring now keep the discounted share of explored decisions ≤ the cap?"""
        if self.explore_cap <= 0.0:
            return False
        explored = self._keep * self._explored + 1.0
        decisions = self._keep * self._decisions + 1.0
        return explored <= self.explore_cap * decisions

    def _count_decision(self, *, explored: bool) -> None:
        self._decisions = self._keep * self._decisions + 1.0
        self._explored = self._keep * self._explored + (1.0 if explored else 0.0)

    # -- explanations ----------------------------------------------------------------------

    def _note(self, cid: str, first: str, how: str, est: Estimate) -> str:
        if cid == first and how:
            return how
        if est.segment == SEG_PRIOR:
            return "cold prior"
        if est.shift:
            return "recent drop" if est.shift < 0 else "recent rise"
        if self.health.flagged(cid):
            return "degraded"
        return ""

    def _reason(self, first: str, how: str, leader: str, scores: dict[str, Score]) -> str:
        chosen = scores[first]
        if how == "probe":
            return f"probe {first} after its cool-off"
        if how == "explore":
            return (
                f"explore {first} (its posterior draw won; mean "
                f"{chosen.expected_success:.3f}); best estimate {leader} "
                f"{scores[leader].expected_success:.3f}"
            )
        best = max(scores.values(), key=lambda s: (s.expected_success, s.channel_id))
        if best.channel_id != first and best.expected_success > chosen.expected_success:
            return (
                f"{first}: cheaper or faster within {self.tolerance * 100:.1f} pp of "
                f"{best.channel_id} ({chosen.expected_success:.3f} vs "
                f"{best.expected_success:.3f})"
            )
        return f"{first}: highest expected success {chosen.expected_success:.3f} ({chosen.segment})"

    # -- reporting -------------------------------------------------------------------------

    def stats(self, at: datetime | None = None) -> dict[str, ChannelSnapshot]:
        """Per channel seen: health, discounted and raw volume, success rates, latency
        percentiles, and every segment's statistics — as of `at` (default: the latest
        outcome observed)."""
        now = seconds(at) if at is not None else self._last_at
        if math.isinf(now):
            now = 0.0
        seen = [*(key[0] for key in self._stats), *self._latency, *self._stated_latency]
        return {cid: self._channel_snapshot(cid, now) for cid in dict.fromkeys(seen)}

    def snapshot(self, at: datetime | None = None) -> dict[str, dict[str, Any]]:
        """`stats` as JSON-ready dictionaries, by channel id (for `GET /v1/channels`)."""
        return {cid: snap.as_dict() for cid, snap in self.stats(at).items()}

    def _channel_snapshot(self, cid: str, now: float) -> ChannelSnapshot:
        health = self.health
        total = self._stats.get((cid, None, None))
        volume = sum(total.counts(now)) if total is not None else 0.0
        segments = []
        for (channel, issuer, card), counter in self._stats.items():
            if channel != cid or (issuer is None and card is None):
                continue
            name = "/".join(part for part in (issuer, card) if part is not None)
            segments.append(
                SegmentSnapshot(name, counter.rate(now), sum(counter.counts(now)), counter.raw)
            )
        segments.sort(key=lambda s: s.segment)
        until = health.eliminated_until(cid)
        latency = self._latency.get(cid)
        recent = self._recent_latency.get(cid)
        return ChannelSnapshot(
            channel_id=cid,
            state=health.state(cid, now),
            available=health.available(cid, now),
            probing=health.probing(cid, now),
            eliminated_until=(
                datetime.fromtimestamp(until, UTC) if until is not None and now < until else None
            ),
            cool_off_s=health.cool_off_s(cid),
            eliminations=health.eliminations(cid),
            success_rate=total.rate(now) if total is not None else None,
            recent_success_rate=health.recent_rate(cid, now),
            long_run_success_rate=health.baseline(cid, now),
            volume=volume,
            volume_raw=total.raw if total is not None else 0,
            latency_ms=latency.value() if latency is not None else None,
            latency_p50_ms=recent.quantile(0.5) if recent is not None else None,
            latency_p90_ms=recent.quantile(0.9) if recent is not None else None,
            segments=tuple(segments),
        )
