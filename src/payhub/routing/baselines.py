"""The published strategies PayHub's engine is measured against, and the oracle.

Every baseline learns per segment issuer × card type (its arms being the channels), counts
outcomes as PayHub's engine does (an approval is a success; a soft decline, an unknown
outcome or an error a failure; a hard decline is the issuer's answer and is not counted),
and takes its randomness from a seeded `random.Random`, so a run can be replayed exactly.
Ties are broken by lower fee, then lower stated latency, then channel id.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from payhub.channels.base import ChannelInfo
from payhub.channels.sim.draws import World
from payhub.routing.base import Context, Ranking, Result, Score
from payhub.routing.ordering import Option, strict_order
from payhub.routing.outcome import channel_outcome, seconds
from payhub.routing.stats import OutcomeWindow

Segment = tuple[str, str]  # (issuer, card type)


def _segment(ctx: Context) -> Segment:
    return ctx.issuer, ctx.card_type.value


def _make_rng(rng: random.Random | None, seed: int) -> random.Random:
    return rng if rng is not None else random.Random(seed)  # noqa: S311 (not security)


# ---------------------------------------------------------------------------------------
# Sliding-window UCB (Garivier & Moulines, 2008)
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Window:
    """One segment's last τ plays, with per-arm counts kept as they slide."""

    plays: deque[tuple[str, bool]]
    counts: dict[str, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)
    t: int = 0  # plays ever made in the segment


class SlidingWindowUCB:
    """Sliding-window UCB ("On upper-confidence bound policies for switching bandit
    problems", Garivier & Moulines, 2008; ALT 2011).

    Per segment, the last `window` (τ) outcomes of any channel. A channel's index is its mean
    over its plays in the window plus `c` · sqrt(`xi` · ln(min(t, τ)) / N), t being the
    segment's plays so far and N the channel's plays in the window; a channel with no play
    in the window comes first. The analysis needs ξ > 1/2: default 0.6, `c` 1 (rewards
    in [0, 1]). τ defaults to 500 plays of a segment: the paper's tuning
    τ = 2·sqrt(T·ln T / Υ) for T ≈ 20,000 plays of a segment with Υ ≈ 3 changes.
    Deterministic: no randomness."""

    name = "sw_ucb"

    def __init__(self, *, window: int = 500, xi: float = 0.6, c: float = 1.0) -> None:
        if window < 1 or xi <= 0.0 or c < 0.0:
            raise ValueError("need window >= 1, xi > 0, c >= 0")
        self.window = window
        self.xi = xi
        self.c = c
        self._segments: dict[Segment, _Window] = {}

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        win = self._segments.get(_segment(ctx))
        log_t = math.log(min(win.t, self.window)) if win is not None and win.t > 0 else 0.0
        options: list[Option] = []
        scores: dict[str, Score] = {}
        for info in candidates:
            cid = info.channel_id
            n = win.counts.get(cid, 0) if win is not None else 0
            fee = info.fee(ctx.amount, ctx.card_type)
            if n == 0 or win is None:
                index, mean, note = math.inf, 1.0, "untried in window"
            else:
                mean = win.successes.get(cid, 0) / n
                index = mean + self.c * math.sqrt(self.xi * log_t / n)
                note = f"ucb {index:.3f}"
            options.append(Option(cid, index, fee, info.latency_median_ms))
            scores[cid] = Score(
                cid,
                mean,
                fee_minor=fee,
                latency_ms=info.latency_median_ms,
                segment="issuer+card_type",
                samples=float(n),
                note=note,
            )
        order = strict_order(options)
        reason = f"{order[0]}: highest window UCB index" if order else "no channel"
        return Ranking(order, scores, reason)

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        ok = channel_outcome(result)
        if ok is None:
            return
        seg = _segment(ctx)
        win = self._segments.get(seg)
        if win is None:
            win = self._segments[seg] = _Window(deque())
        if len(win.plays) == self.window:
            old, old_ok = win.plays.popleft()
            win.counts[old] -= 1
            win.successes[old] = win.successes.get(old, 0) - old_ok
        win.plays.append((channel_id, ok))
        win.counts[channel_id] = win.counts.get(channel_id, 0) + 1
        win.successes[channel_id] = win.successes.get(channel_id, 0) + ok
        win.t += 1

    def available(self, channel_id: str, at: datetime) -> bool:
        return True


# ---------------------------------------------------------------------------------------
# Discounted Thompson sampling (Raj & Kalyani, 2017)
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Arm:
    successes: float = 0.0
    failures: float = 0.0
    step: int = 0  # the segment step of the last update


@dataclass(slots=True)
class _Discounted:
    arms: dict[str, _Arm] = field(default_factory=dict)
    step: int = 0  # outcomes seen in the segment


class DiscountedThompson:
    """Discounted Thompson sampling ("Taming non-stationary bandits: a Bayesian approach",
    Raj & Kalyani, 2017) with Bernoulli rewards.

    Per segment, each channel has Beta(`prior_alpha` + S, `prior_beta` + F); every outcome
    in the segment multiplies every channel's S and F by `gamma` (default 0.99: a memory of
    about 100 outcomes of the segment) before the observed channel's count grows by one.
    The order is by a posterior draw per channel. Defaults: `gamma` 0.99, prior Beta(1, 1),
    `seed` 0."""

    name = "thompson"

    def __init__(
        self,
        *,
        gamma: float = 0.99,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        seed: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 < gamma <= 1.0 or prior_alpha <= 0.0 or prior_beta <= 0.0:
            raise ValueError("need 0 < gamma <= 1 and positive prior parameters")
        self.gamma = gamma
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        self._rng = _make_rng(rng, seed)
        self._segments: dict[Segment, _Discounted] = {}

    def _counts(self, seg: _Discounted | None, cid: str) -> tuple[float, float]:
        arm = seg.arms.get(cid) if seg is not None else None
        if arm is None or seg is None:
            return 0.0, 0.0
        factor = self.gamma ** (seg.step - arm.step)  # discounts applied lazily
        return arm.successes * factor, arm.failures * factor

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        seg = self._segments.get(_segment(ctx))
        options: list[Option] = []
        scores: dict[str, Score] = {}
        for info in candidates:
            cid = info.channel_id
            s, f = self._counts(seg, cid)
            a, b = self.prior_alpha + s, self.prior_beta + f
            draw = self._rng.betavariate(a, b)
            fee = info.fee(ctx.amount, ctx.card_type)
            options.append(Option(cid, draw, fee, info.latency_median_ms))
            scores[cid] = Score(
                cid,
                a / (a + b),
                fee_minor=fee,
                latency_ms=info.latency_median_ms,
                segment="issuer+card_type",
                samples=s + f,
                note=f"draw {draw:.3f}",
            )
        order = strict_order(options)
        reason = f"{order[0]}: highest posterior draw" if order else "no channel"
        return Ranking(order, scores, reason)

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        ok = channel_outcome(result)
        if ok is None:
            return
        key = _segment(ctx)
        seg = self._segments.get(key)
        if seg is None:
            seg = self._segments[key] = _Discounted()
        seg.step += 1
        arm = seg.arms.get(channel_id)
        if arm is None:
            arm = seg.arms[channel_id] = _Arm(step=seg.step)
        factor = self.gamma ** (seg.step - arm.step)
        arm.successes = arm.successes * factor + ok
        arm.failures = arm.failures * factor + (not ok)
        arm.step = seg.step

    def available(self, channel_id: str, at: datetime) -> bool:
        return True


# ---------------------------------------------------------------------------------------
# Success-rate routing, version 3 (Juspay's open-source decision engine, as documented)
# ---------------------------------------------------------------------------------------


class SuccessRateV3:
    """Success-rate routing after Juspay's open-source decision engine, as its documentation
    describes it. Written from that description; what it leaves open is assumed as below.

    - Per segment (issuer × card type — assumed, as the other baselines) and channel, a
      window of the last `window` (125) outcomes that starts full of successes; per channel a
      window of its last 125 outcomes over all segments (the channel's overall rate), also
      starting full.
    - Score: while a segment window holds fewer than `window` real outcomes (n), it is
      shrunk toward the channel's overall rate with weight `prior_weight` (20):
      (n · window mean + 20 · overall) / (n + 20); after that, the window mean alone.
    - Hedging: with probability `hedging` (0.05) a non-leader drawn uniformly goes first.
    - Elimination: a channel whose overall rate falls below `elimination_threshold` (0.4 —
      assumed, in the 0.3–0.5 band such engines use) is unavailable for
      `elimination_ttl_s` (300 s — assumed), then comes back with its overall window full
      of successes again (assumed: stands for the expiry of the failures that eliminated it).
    - Order: score, then fee, then stated latency.
    """

    name = "sr_v3"

    def __init__(
        self,
        *,
        window: int = 125,
        prior_weight: float = 20.0,
        hedging: float = 0.05,
        elimination_threshold: float = 0.4,
        elimination_ttl_s: float = 300.0,
        seed: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        if window < 1 or prior_weight < 0.0 or not 0.0 <= hedging <= 1.0:
            raise ValueError("need window >= 1, prior_weight >= 0, 0 <= hedging <= 1")
        if not 0.0 <= elimination_threshold <= 1.0 or elimination_ttl_s <= 0.0:
            raise ValueError("need 0 <= elimination_threshold <= 1, elimination_ttl_s > 0")
        self.window = window
        self.prior_weight = prior_weight
        self.hedging = hedging
        self.elimination_threshold = elimination_threshold
        self.elimination_ttl_s = elimination_ttl_s
        self._rng = _make_rng(rng, seed)
        self._segments: dict[tuple[str, Segment], OutcomeWindow] = {}
        self._overall: dict[str, OutcomeWindow] = {}
        self._eliminated_until: dict[str, float] = {}

    def _overall_of(self, cid: str) -> OutcomeWindow:
        win = self._overall.get(cid)
        if win is None:
            win = self._overall[cid] = OutcomeWindow(self.window, seeded=True)
        return win

    def score(self, cid: str, seg: Segment) -> tuple[float, int]:
        """(score, real outcomes in the segment window)."""
        overall = self._overall.get(cid)
        overall_rate = overall.mean() if overall is not None else None
        if overall_rate is None:
            overall_rate = 1.0  # an empty window is all seeded successes
        win = self._segments.get((cid, seg))
        if win is None:
            return overall_rate, 0
        mean = win.mean()
        assert mean is not None  # a seeded window is never empty
        n = win.real
        if n < self.window:
            return (n * mean + self.prior_weight * overall_rate) / (n + self.prior_weight), n
        return mean, n

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        seg = _segment(ctx)
        options: list[Option] = []
        scores: dict[str, Score] = {}
        for info in candidates:
            cid = info.channel_id
            value, n = self.score(cid, seg)
            fee = info.fee(ctx.amount, ctx.card_type)
            options.append(Option(cid, value, fee, info.latency_median_ms))
            scores[cid] = Score(
                cid,
                value,
                fee_minor=fee,
                latency_ms=info.latency_median_ms,
                segment="issuer+card_type" if n else "channel",
                samples=float(n),
                note="" if n >= self.window else "shrunk toward channel rate",
            )
        order = strict_order(options)
        if not order:
            return Ranking([], {}, "no channel")
        reason = f"{order[0]}: highest success-rate score"
        if len(order) > 1 and self._rng.random() < self.hedging:
            hedge = self._rng.choice(order[1:])
            order = [hedge, *(cid for cid in order if cid != hedge)]
            old = scores[hedge]
            scores[hedge] = Score(
                hedge,
                old.expected_success,
                fee_minor=old.fee_minor,
                latency_ms=old.latency_ms,
                segment=old.segment,
                samples=old.samples,
                note="hedge",
            )
            reason = f"hedge: {hedge} instead of the leader"
        return Ranking(order, scores, reason)

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        ok = channel_outcome(result)
        if ok is None:
            return
        key = (channel_id, _segment(ctx))
        win = self._segments.get(key)
        if win is None:
            win = self._segments[key] = OutcomeWindow(self.window, seeded=True)
        win.push(ok)
        overall = self._overall_of(channel_id)
        overall.push(ok)
        at = seconds(ctx.at)
        rate = overall.mean()
        if (
            channel_id not in self._eliminated_until
            and rate is not None
            and rate < self.elimination_threshold
        ):
            self._eliminated_until[channel_id] = at + self.elimination_ttl_s

    def available(self, channel_id: str, at: datetime) -> bool:
        until = self._eliminated_until.get(channel_id)
        if until is None:
            return True
        if seconds(at) < until:
            return False
        # Back after the TTL, with a fresh (optimistic) overall window.
        del self._eliminated_until[channel_id]
        self._overall[channel_id] = OutcomeWindow(self.window, seeded=True)
        return True


# ---------------------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------------------


class OracleRanker:
    """Ranks by the simulator's true probability that a channel approves the payment and the
    answer comes back: `World.success_probability` at the payment's moment (incidents'
    success multipliers included), times the chance the request neither hangs nor has its
    answer lost in an incident (`World.timeout_rate`, `World.lost_rate`; without these a
    channel hanging most requests would still look perfect — `delivery_aware=False` ranks
    by the success probability alone). Ties: fee, then stated latency. Learns nothing and
    eliminates nothing."""

    name = "oracle"

    def __init__(self, world: World, start: datetime, *, delivery_aware: bool = True) -> None:
        self.world = world
        self.start = start
        self.delivery_aware = delivery_aware

    def probability(self, channel_id: str, issuer: str, at_s: float) -> float:
        p = self.world.success_probability(channel_id, issuer, at_s)
        if self.delivery_aware:
            p *= 1.0 - self.world.timeout_rate(channel_id, issuer, at_s)
            p *= 1.0 - self.world.lost_rate(channel_id, issuer, at_s, approved=True)
        return min(1.0, max(0.0, p))

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        at_s = (ctx.at - self.start).total_seconds()
        options: list[Option] = []
        scores: dict[str, Score] = {}
        for info in candidates:
            cid = info.channel_id
            p = self.probability(cid, ctx.issuer, at_s)
            fee = info.fee(ctx.amount, ctx.card_type)
            options.append(Option(cid, p, fee, info.latency_median_ms))
            scores[cid] = Score(
                cid,
                p,
                fee_minor=fee,
                latency_ms=info.latency_median_ms,
                segment="true probability",
                note="oracle",
            )
        order = strict_order(options)
        reason = f"{order[0]}: highest true success probability" if order else "no channel"
        return Ranking(order, scores, reason)

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        return None

    def available(self, channel_id: str, at: datetime) -> bool:
        return True
