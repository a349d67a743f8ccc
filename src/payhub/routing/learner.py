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

Drops. At light traffic the first failures of an incident are in the slow statistics before
the fast ones can call it, and a channel that is passed over gets too few outcomes to wash
them out. So each channel × issuer is also watched outcome by outcome, whatever the time
between them: a CUSUM of "approvals fell to half the slow rate" against "they did not"
opens a drop at `shift_llr`, claiming the outcomes that revealed it; while the drop is
open, what its outcomes add to the slow statistics is kept apart too. A second CUSUM,
"back at the old rate" against "still at the drop's rate" (measured on the drop's outcomes
from a start at half the old rate), ends it at `shift_llr` as well (or at once if the
drop's outcomes are no worse than the old rate): what the drop added is taken back, and the
channel is judged on what it did before and after. A channel held
down by an open drop with no outcome of it for `recheck_s` goes first once ("recheck"), at
most once per `recheck_s` per channel: it is measured again within that, at any traffic.

Exploration. Thompson sampling from each candidate's Beta posterior picks the first
channel — but only while the share of first attempts that went to exploration, discounted
over about `explore_window` decisions, stays within `explore_cap`. Otherwise the best
estimate goes first. So a worse channel gets at most `explore_cap` of the first attempts
it would not have had (plus its rechecks, at most one per `recheck_s` while a drop holds it
down), and, because counts decay, no channel's posterior stays closed forever.

Cost. Among channels whose estimate is within `tolerance` of the best, the lowest fee goes
first, then the lowest latency (a time-discounted mean of the latencies seen, starting from
the channel's stated median).

Worth to the payment. When the engine cascades, a first channel is worth its approval plus
what the next channel can rescue of its failures: only its declines (an unknown outcome
ends the cascade) that come back early enough for the next channel to fit in the time
budget (`payhub.routing.value`). So each channel × issuer keeps a fast share of unknown
outcomes, and each channel a log-normal model of its answers' latencies. A channel worth
clearly less to the payment than the best is not put first, however cheap; the worth
never puts a less likely first attempt first.

Downtime. See `payhub.routing.health`: a channel whose recent outcomes collapse is made
unavailable for a cool-off, then probed back (the probe is ranked first, once per probe
interval, and is all the channel gets until it is answered). A channel out for hanging is
not probed: it stays a candidate, after every other channel ("last resort"), and its first
outcome after the cool-off decides.

Cost of a decision: a handful of `exp`/`log`/`erfc` calls and dictionary lookups per
candidate, and one Beta draw per candidate when exploration is allowed; nothing walks the
history. With four to ten channels, about 0.1 ms of CPU at the median in CPython.
"""

from __future__ import annotations

import math
import random
from collections import deque
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
from payhub.routing.stats import (
    DecayedMean,
    DecayedRate,
    LogNormalLatency,
    RecentSamples,
    bernoulli_llr,
)
from payhub.routing.value import Attempt, FirstValue, first_value

# (channel, issuer or None, card type or None): None is "any".
Key = tuple[str, str | None, str | None]

_EPS = 1e-6  # keeps logits finite
_LN2 = math.log(2.0)
# Most outcomes a new drop claims (the ones that revealed it).
_RUN = 64

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


class _Seen:
    """One outcome of a channel × issuer, as counted in the slow statistics."""

    __slots__ = ("at", "card", "ok", "weight")

    def __init__(self, card: str, ok: bool, at: float, weight: float) -> None:
        self.card = card
        self.ok = ok
        self.at = at
        self.weight = weight


class _Watch:
    """Page's CUSUM for a fall of a segment's approval rate to half of its slow rate `p`:
    each failure adds log((1 - p/2) / (1 - p)), each success log(1/2), and it never goes
    below zero. It weighs the evidence outcome by outcome, however far apart they come, and
    keeps the outcomes since it was last at zero: the ones a drop it reveals is made of."""

    __slots__ = ("evidence", "run")

    def __init__(self) -> None:
        self.evidence = 0.0
        self.run: deque[_Seen] = deque(maxlen=_RUN)

    def add(self, seen: _Seen, p: float) -> None:
        step = -_LN2 if seen.ok else math.log((1.0 - p / 2.0) / (1.0 - p))
        self.evidence = max(0.0, self.evidence + step)
        if self.evidence > 0.0:
            self.run.append(seen)
        else:
            self.run.clear()


class _Drop:
    """An open drop of one channel × issuer: from the outcomes that revealed it until the
    outcomes since show that the segment is back at its old rate."""

    __slots__ = ("evidence", "last_at", "measured", "pre", "residue")

    def __init__(self, at: float) -> None:
        # Both set on opening, once the outcomes that revealed the drop are claimed: the
        # segment's slow rate without the drop's outcomes, and the drop's own rate as
        # (successes, outcomes) since it opened, from a start worth one outcome.
        self.pre = 0.5
        self.measured = (0.25, 1.0)
        self.evidence = 0.0  # CUSUM of the log-likelihood ratio: back at `pre` vs dropped
        self.last_at = at  # the segment's latest outcome
        # What the drop's outcomes added to the slow statistics, per level, with the same
        # half-life: taken back when the drop is over.
        self.residue: dict[Key, DecayedRate] = {}

    def claim(self, cid: str, issuer: str, seen: _Seen, half_life_s: float) -> None:
        for key in (
            (cid, None, None),
            (cid, issuer, None),
            (cid, None, seen.card),
            (cid, issuer, seen.card),
        ):
            part = self.residue.get(key)
            if part is None:
                part = self.residue[key] = DecayedRate(half_life_s)
            part.add(seen.ok, seen.at, seen.weight)

    def low(self) -> float:
        """The drop's rate as measured so far, kept below the old rate."""
        successes, total = self.measured
        return min(successes / total, self.pre * (1.0 - _EPS))

    def over(self, ok: bool, at: float, threshold: float) -> bool:
        """Count one outcome of the segment; True once the outcomes since favour the old
        rate over the drop's by `threshold` (a CUSUM of the log-likelihood ratio), or once
        the drop's own outcomes are, all in all, no worse than the old rate (no drop after
        all)."""
        self.last_at = max(self.last_at, at)
        low, pre = self.low(), self.pre
        step = math.log(pre / low) if ok else math.log((1.0 - pre) / (1.0 - low))
        self.evidence = max(0.0, self.evidence + step)
        successes, total = self.measured
        self.measured = (successes + ok, total + 1.0)
        return self.evidence >= threshold or successes + ok >= pre * (total + 1.0)


class PayhubRanker:
    """Our routing strategy (`name = "payhub"`). See the module docstring.

    Defaults: `half_life_s` 300, `prior_success` 0.9, `prior_strength` 20 pseudo-outcomes,
    `tolerance` 0.01 (one percentage point), `explore_cap` 0.05 of first attempts over about
    `explore_window` 500 decisions, `recent_half_life_s` 30, `shift_llr` 8,
    `incident_weight` 0.25, `recheck_s` 30,
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
        recheck_s: float = 30.0,
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
        if recheck_s <= 0.0:
            raise ValueError("recheck_s must be positive")
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
        self.recheck_s = recheck_s
        self._recent: dict[Key, DecayedRate] = {}  # channel and channel × issuer, fast
        # Per channel × issuer, (channel, issuer, None): its open drop, else the watch for
        # one.
        self._drops: dict[Key, _Drop] = {}
        self._watches: dict[Key, _Watch] = {}
        self._rechecked: dict[str, float] = {}  # the latest recheck of each channel
        self._latency: dict[str, DecayedMean] = {}
        self._recent_latency: dict[str, RecentSamples] = {}
        self._stated_latency: dict[str, float] = {}
        self._answer_latency: dict[str, LogNormalLatency] = {}  # answers only, not timeouts
        # Per channel and channel × issuer, fast: the share of attempts whose outcome was
        # unknown (a hang or a lost answer), which ends the payment's cascade.
        self._unknown: dict[Key, DecayedRate] = {}
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
        # A channel out for hanging goes after every other (see `HealthMonitor.last_resort`).
        last = [cid for cid in ids if self.health.last_resort(cid, at)]
        if len(last) == len(ids):
            last = []  # nothing else to try first
        greedy = [cid for cid in tolerance_order(options, self.tolerance) if cid not in last]
        infos = {info.channel_id: info for info in candidates}
        values = self._values(ctx, greedy, estimates, infos, at)
        first, how = self._first_by_value(greedy, values, options), ""
        probe = next((cid for cid in ids if self.health.probe_due(cid, at)), None)
        if probe is not None:
            first, how = probe, "probe"
            self.health.probe_sent(probe, at)
        elif (recheck := self._recheck_due(greedy, ctx.issuer, at)) is not None:
            first, how = recheck, "recheck"
        elif len(greedy) > 1 and self._may_explore():
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
                if o.channel_id not in last
            ]
            pick = tolerance_order(drawn, self.tolerance)[0]
            if pick != first:
                first, how = pick, "explore"
        self._count_decision(explored=how == "explore")
        order = [first, *(cid for cid in greedy if cid != first), *last]
        scores = {
            o.channel_id: Score(
                o.channel_id,
                estimates[o.channel_id].mean,
                fee_minor=o.fee_minor,
                latency_ms=o.latency_ms,
                segment=estimates[o.channel_id].segment,
                samples=estimates[o.channel_id].samples,
                note=(
                    "last resort"
                    if o.channel_id in last
                    else self._note(o.channel_id, first, how, estimates[o.channel_id])
                ),
            )
            for o in options
        }
        reason = self._reason(first, how, greedy[0], scores, values)
        return Ranking(order, scores, reason, last_resort=frozenset(last))

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        at = seconds(ctx.at)
        self._last_at = max(self._last_at, at)
        if latency_ms > 0:  # an error before sending has no latency to learn from
            self._latency_of(channel_id).add(float(latency_ms), at)
            self._recent_latency_of(channel_id).add(float(latency_ms))
            if result in (Result.APPROVED, Result.SOFT_DECLINE, Result.HARD_DECLINE):
                self._answer_latency_of(channel_id).add(float(latency_ms), at)
        ok = channel_outcome(result)
        if ok is None:
            return  # a hard decline: the issuer's answer, not the channel's doing
        hangs: tuple[Key, ...] = ((channel_id, None, None), (channel_id, ctx.issuer, None))
        for key in hangs:
            unknown = self._unknown.get(key)
            if unknown is None:
                unknown = self._unknown[key] = DecayedRate(self.recent_half_life_s)
            unknown.add(result is Result.UNKNOWN, at)
        card = ctx.card_type.value
        channel: Key = (channel_id, None, None)
        segment: Key = (channel_id, ctx.issuer, None)
        before = self._rate(segment, at)
        weight = self._weight(channel_id, ctx.issuer, at)
        levels = (channel, segment, (channel_id, None, card), (channel_id, ctx.issuer, card))
        for key in levels:
            counter = self._stats.get(key)
            if counter is None:
                counter = self._stats[key] = DecayedRate(self.half_life_s)
            counter.add(ok, at, weight)
        for key in (channel, segment):
            counter = self._recent.get(key)
            if counter is None:
                counter = self._recent[key] = DecayedRate(self.recent_half_life_s)
            counter.add(ok, at)
        self._watch_drop(channel_id, ctx.issuer, _Seen(card, ok, at, weight), before)
        self._pooled.add(ok, at)
        self.health.record(
            channel_id,
            ctx.issuer,
            ok,
            at,
            hung=result is Result.UNKNOWN,
            answered=result in (Result.APPROVED, Result.SOFT_DECLINE),
        )

    def available(self, channel_id: str, at: datetime) -> bool:
        return self.health.available(channel_id, seconds(at))

    # -- the first channel: what it is worth to the payment ---------------------------------

    def _values(
        self,
        ctx: Context,
        greedy: Sequence[str],
        estimates: dict[str, Estimate],
        infos: dict[str, ChannelInfo],
        at: float,
    ) -> dict[str, FirstValue]:
        """Each channel's worth as the first attempt: its approval, and the approvals the
        next channel of the order adds after its declines within the budget."""
        values: dict[str, FirstValue] = {}
        for cid in greedy:
            first = Attempt(estimates[cid].mean, self._unknown_share(cid, ctx.issuer, at))
            following = next((other for other in greedy if other != cid), None)
            if ctx.budget_ms is None or following is None:
                values[cid] = first_value(first, 0.0, None)
                continue
            then = Attempt(estimates[following].mean, 0.0)
            room = ctx.budget_ms - infos[following].latency_median_ms
            in_time = self._answered_within(infos[cid], room, at)
            values[cid] = first_value(first, in_time, then)
        return values

    def _first_by_value(
        self, greedy: Sequence[str], values: dict[str, FirstValue], options: Sequence[Option]
    ) -> str:
        """The first channel: among those worth about as much to the payment as the best —
        within what `tolerance` on the first attempt is worth once the cascade has made up
        its share — the usual rule: the likeliest first attempt, and the cheapest, then the
        fastest, among those within `tolerance` of it. The worth only ever passes over a
        channel whose failures the cascade cannot take on (hangs, late declines); it never
        lets a less likely first attempt in on the strength of the cascade, which would
        cost the customer time and count on a second channel's approvals being independent
        of the first's declines."""
        best = max(greedy, key=lambda cid: (values[cid].value, cid))
        floor = values[best].value - self.tolerance * (1.0 - values[best].rescue)
        band = [
            o for o in options if o.channel_id in greedy and values[o.channel_id].value >= floor
        ]
        return tolerance_order(band, self.tolerance)[0]

    def _unknown_share(self, cid: str, issuer: str, at: float) -> float:
        """The recent share of the channel × issuer's attempts that ended unknown, shrunk
        toward the channel's, which is shrunk toward none."""
        m = self.prior_strength
        unknown, answered = self._unknown_counts((cid, None, None), at)
        channel = unknown / (unknown + answered + m)
        unknown, answered = self._unknown_counts((cid, issuer, None), at)
        return (unknown + m * channel) / (unknown + answered + m)

    def _unknown_counts(self, key: Key, at: float) -> tuple[float, float]:
        counter = self._unknown.get(key)
        return counter.counts(at) if counter is not None else (0.0, 0.0)

    def _answered_within(self, info: ChannelInfo, ms: float, at: float) -> float:
        """P(the channel's answer comes within `ms`), from the answers seen and its stated
        latencies."""
        return self._answer_latency_of(info.channel_id).within(
            ms,
            at,
            median_ms=info.latency_median_ms,
            p99_ms=info.latency_p99_ms,
            prior_weight=self.latency_prior_weight,
        )

    def _answer_latency_of(self, cid: str) -> LogNormalLatency:
        model = self._answer_latency.get(cid)
        if model is None:
            model = self._answer_latency[cid] = LogNormalLatency(self.half_life_s)
        return model

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

    # -- drops: open, weighed, released, rechecked -----------------------------------------

    def _rate(self, key: Key, at: float) -> float:
        """A segment's slow rate, never 0 or 1."""
        successes, failures = self._counts(key, at)
        return (successes + 0.5) / (successes + failures + 1.0)

    def _watch_drop(self, cid: str, issuer: str, seen: _Seen, before: float) -> None:
        """Count an outcome of a channel × issuer toward its drop: an open drop claims it
        and ends once the outcomes favour the old rate by `shift_llr`; otherwise the
        watch weighs it against the segment's slow rate `before` it and, at `shift_llr`,
        opens a drop with the outcomes that revealed it."""
        key: Key = (cid, issuer, None)
        drop = self._drops.get(key)
        if drop is not None:
            drop.claim(cid, issuer, seen, self.half_life_s)
            # Over on the evidence that opened it. With less, a long partial drop (to half
            # the rate, say) has runs of approvals that pass for its end every few minutes,
            # and each false end takes the drop's failures back from the slow statistics.
            if drop.over(seen.ok, seen.at, self.shift_llr):
                self._release(key, seen.at)
            return
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch()
        watch.add(seen, before)
        if watch.evidence < self.shift_llr:
            return
        del self._watches[key]
        drop = self._drops[key] = _Drop(seen.at)
        for claimed in watch.run:
            drop.claim(cid, issuer, claimed, self.half_life_s)
        # The old rate: the segment's slow statistics without the drop's outcomes.
        s_all, f_all = self._counts(key, seen.at)
        s_drop, f_drop = drop.residue[key].counts(seen.at)
        s_old, f_old = max(0.0, s_all - s_drop), max(0.0, f_all - f_drop)
        drop.pre = (s_old + 0.5) / (s_old + f_old + 1.0)
        # The drop's rate starts where the watch found it, half the old rate, as one
        # outcome. Not from the fast statistics: a drop caught by its first few failures
        # finds them still full of approvals from before it, and a start near the old rate
        # would have the next approval end the drop as "no drop after all".
        drop.measured = (drop.pre / 2.0, 1.0)

    def _release(self, key: Key, at: float) -> None:
        """The drop is over: what its outcomes added to the slow statistics is taken back."""
        drop = self._drops.pop(key)
        for level, part in drop.residue.items():
            self._stats[level].subtract(part, at)

    def _recheck_due(self, greedy: Sequence[str], issuer: str, at: float) -> str | None:
        """The best-ranked channel after the leader that an open drop for this issuer holds
        down, with no outcome of the drop's and no recheck of the channel's within
        `recheck_s`; it is marked as rechecked."""
        for cid in greedy[1:]:
            drop = self._drops.get((cid, issuer, None))
            if (
                drop is not None
                and at - drop.last_at >= self.recheck_s
                and at - self._rechecked.get(cid, -math.inf) >= self.recheck_s
            ):
                self._rechecked[cid] = at
                return cid
        return None

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

    def _reason(
        self,
        first: str,
        how: str,
        leader: str,
        scores: dict[str, Score],
        values: dict[str, FirstValue],
    ) -> str:
        chosen = scores[first]
        if how == "probe":
            return f"probe {first} after its cool-off"
        if how == "recheck":
            return (
                f"recheck {first}: held down by a drop with no outcome for "
                f"{self.recheck_s:g} s ({chosen.expected_success:.3f}); best estimate "
                f"{leader} {scores[leader].expected_success:.3f}"
            )
        if how == "explore":
            return (
                f"explore {first} (its posterior draw won; mean "
                f"{chosen.expected_success:.3f}); best estimate {leader} "
                f"{scores[leader].expected_success:.3f}"
            )
        if first != leader:
            # The worth to the payment passed over the usual choice.
            return (
                f"{first}: worth more to the payment than {leader} with the cascade "
                f"({values[first].value:.4f} vs {values[leader].value:.4f}): fewer of its "
                f"failures are hangs or declines too late to cascade"
            )
        ranked = [scores[cid] for cid in values]  # last-resort channels aside
        best = max(ranked, key=lambda s: (s.expected_success, s.channel_id))
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
            available=health.usable(cid, now),
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
            drops=tuple(
                sorted(str(issuer) for channel, issuer, _ in self._drops if channel == cid)
            ),
        )
