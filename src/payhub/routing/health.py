"""Downtime detection: channel-level health, elimination, cool-off and probe-back.

A channel is eliminated when it is down, not merely worse: a failure streak that its
recent rate makes implausible; a short window whose success rate is both far below the
long-run rate (a ratio) and significantly so (a z-score); or a short window in which a large
share of requests hang or lose their answer. Hangs are judged apart because they cost most:
the customer waits out the timeout and the payment cannot move on to another channel until
the outcome is known. A channel that still answers, even with many declines, stays
available: the ranking passes it over (see `learner`), and it remains worth trying after
another channel has declined. Only failures the channel is answerable for count; hard
declines never reach this module. After a cool-off a channel out for failing is available
again and the next outcome on it is the probe, and until it is answered nothing else is
sent to it; an approval restores it, else it is eliminated again for twice the cool-off
(bounded, so a recovered channel is measured again within minutes). A channel out for
hanging is never probed first: it stays a candidate as a last resort — tried only after
every other channel of a payment, so it costs a payment only the wait, never an approval
it could have had elsewhere — and its first outcome after the cool-off decides: an answer
(an approval or a decline; an error is no answer) restores it, else it is out for the same
cool-off again.

Health is kept per channel, not per issuer, and a channel is never eliminated while it is
the last one standing for an issuer it serves: an issuer's own outage then leaves its
payments somewhere to go instead of nowhere.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from payhub.routing.stats import DecayedRate, bernoulli_llr

# Evidence a window needs to call a channel degraded (about three standard errors).
DEGRADED_LLR = 4.5


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # recent rate noticeably low, kept for lack of an alternative, or
    #                        awaiting its probe after a cool-off
    ELIMINATED = "eliminated"


@dataclass(frozen=True, slots=True)
class DowntimeConfig:
    """Knobs of downtime detection (defaults in brackets are the shipped values).

    - `window` [20] outcomes, none older than `window_s` [120 s], make the short window;
      it is judged only with at least `min_samples` [10] outcomes in it.
    - Collapse by window: its success rate is below `collapse_ratio` [0.2] × the long-run
      rate *and* at least `collapse_z` [4] standard errors below it.
    - Collapse by hangs: at least `hang_share` [0.4] of the window's outcomes are unknown
      (timeouts, lost answers).
    - Collapse by streak: at least `failure_streak` [8] failures in a row, and so many that
      they had a probability under `streak_significance` [1e-5] given the long-run rate
      (or the window's rate before the streak, when lower).
    - The long-run rate halves its weights every `baseline_half_life_s` [1800 s].
    - `degraded_ratio` [0.85]: a window rate below this × the long-run rate, and
      significantly so, is "degraded".
    - Eliminated for `cool_off_s` [30 s]; each failed probe of a channel out for failing
      doubles it, up to `max_cool_off_s` [120 s]; a successful probe brings it back to
      `cool_off_s`. A channel out for hanging keeps `cool_off_s`.
    - `probe_interval_s` [10 s]: at most one probe sent per interval while awaiting one;
      while a probe is out (unanswered, within the interval) nothing else is sent.
    - `enabled` [True]: False turns elimination off (health is still reported).
    """

    window: int = 20
    window_s: float = 120.0
    min_samples: int = 10
    collapse_ratio: float = 0.2
    hang_share: float = 0.4
    collapse_z: float = 4.0
    failure_streak: int = 8
    streak_significance: float = 1e-5
    baseline_half_life_s: float = 1800.0
    degraded_ratio: float = 0.85
    cool_off_s: float = 30.0
    max_cool_off_s: float = 120.0
    probe_interval_s: float = 10.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.window < 1 or not 1 <= self.min_samples <= self.window:
            raise ValueError("need window >= 1 and 1 <= min_samples <= window")
        if not 0.0 < self.collapse_ratio <= self.degraded_ratio <= 1.0:
            raise ValueError("need 0 < collapse_ratio <= degraded_ratio <= 1")
        if self.failure_streak < 1 or not 0.0 < self.streak_significance < 1.0:
            raise ValueError("need failure_streak >= 1 and 0 < streak_significance < 1")
        if not 0.0 < self.cool_off_s <= self.max_cool_off_s:
            raise ValueError("need 0 < cool_off_s <= max_cool_off_s")
        if not 0.0 < self.hang_share <= 1.0:
            raise ValueError("need 0 < hang_share <= 1")
        if self.window_s <= 0 or self.probe_interval_s <= 0 or self.collapse_z < 0:
            raise ValueError("window_s and probe_interval_s must be positive, collapse_z >= 0")


class ChannelHealth:
    """One channel's health record."""

    __slots__ = (
        "baseline",
        "cool_off_s",
        "degraded",
        "eliminated_until",
        "eliminations",
        "held",
        "hung",
        "probe_sent_at",
        "recent",
        "streak",
    )

    def __init__(self, config: DowntimeConfig) -> None:
        self.baseline = DecayedRate(config.baseline_half_life_s)
        # (when, succeeded, hung): the short window.
        self.recent: deque[tuple[float, bool, bool]] = deque(maxlen=config.window)
        self.streak = 0
        self.eliminated_until: float | None = None  # set while eliminated or awaiting a probe
        self.cool_off_s = config.cool_off_s
        self.probe_sent_at: float | None = None
        self.held = False  # collapsed, but the last channel standing for some issuer
        self.hung = False  # eliminated for hanging: an approval or a decline brings it back
        self.degraded = False  # as of the last outcome
        self.eliminations = 0


class HealthMonitor:
    """Health of every channel seen. Times are seconds (see `outcome.seconds`)."""

    def __init__(
        self, config: DowntimeConfig, *, prior_success: float, prior_strength: float
    ) -> None:
        self.config = config
        self._prior = prior_success
        self._strength = prior_strength
        self._channels: dict[str, ChannelHealth] = {}
        # Which channels could take an issuer's payments, and the reverse: the guard against
        # eliminating an issuer's last channel.
        self._channels_of: dict[str, set[str]] = {}
        self._issuers_of: dict[str, set[str]] = {}

    # -- what the ranker tells us ----------------------------------------------------------

    def note_candidates(self, issuer: str, channel_ids: list[str]) -> None:
        known = self._channels_of.setdefault(issuer, set())
        for cid in channel_ids:
            if cid not in known:
                known.add(cid)
                self._issuers_of.setdefault(cid, set()).add(issuer)

    def record(
        self,
        channel_id: str,
        issuer: str,
        ok: bool,
        at: float,
        *,
        hung: bool = False,
        answered: bool = True,
    ) -> None:
        """One outcome the channel is answerable for (never a hard decline); `hung`: a
        failure whose outcome is unknown (a timeout or a lost answer); `answered`: the
        channel processed the request (approved or declined it) — False for a hang and for
        an error."""
        self.note_candidates(issuer, [channel_id])
        h = self._get(channel_id)
        h.baseline.add(ok, at)
        if h.eliminated_until is not None:
            if at >= h.eliminated_until:
                # What took it out must be over: a channel that hung is back once it
                # processes a request again, even to decline it (the decline is the
                # issuer's or the channel's ordinary business, not the hang); one that
                # failed, once it approves. An error shows it is still not processing.
                back = ok or (h.hung and answered and not hung)
                self._probe_result(channel_id, h, back, at)
            # else: an attempt sent before the elimination answering late: no news.
            return
        h.recent.append((at, ok, hung and not ok))
        h.streak = 0 if ok else h.streak + 1
        collapsed = self._collapsed(h, at)
        if collapsed and self.config.enabled and self._has_alternative(channel_id, at):
            h.eliminated_until = at + h.cool_off_s
            h.probe_sent_at = None
            h.held = False
            h.hung = self._mostly_hung(h, at)
            h.eliminations += 1
        else:
            h.held = collapsed and self.config.enabled

    def probe_sent(self, channel_id: str, at: float) -> None:
        self._get(channel_id).probe_sent_at = at

    # -- questions -------------------------------------------------------------------------

    def available(self, channel_id: str, at: float) -> bool:
        """Usable (below), or out for hanging: such a channel stays a candidate, as a last
        resort (see `last_resort`)."""
        h = self._channels.get(channel_id)
        return self._usable(h, at) or (h is not None and self._last_resort(h))

    def usable(self, channel_id: str, at: float) -> bool:
        """Not eliminated: back from its cool-off (if it had one) and no probe out. While
        a probe awaits its answer nothing else is sent: a channel that is still down would
        make every payment routed to it meanwhile wait out its timeout too."""
        return self._usable(self._channels.get(channel_id), at)

    def _usable(self, h: ChannelHealth | None, at: float) -> bool:
        if h is None or h.eliminated_until is None:
            return True
        return at >= h.eliminated_until and not self._probe_out(h, at)

    def last_resort(self, channel_id: str, at: float) -> bool:
        """Out for hanging: tried only after every other channel of a payment, never first,
        during its cool-off and after it until its first outcome since decides (no probe
        goes first). A payment that gets this far was declined everywhere else, so a
        channel that still hangs costs it only the wait, and an approval settled by query
        once the channel is back is one it would not have had; a probe sent first costs a
        payment whenever the channel is still down."""
        h = self._channels.get(channel_id)
        return h is not None and self._last_resort(h)

    @staticmethod
    def _last_resort(h: ChannelHealth) -> bool:
        return h.hung and h.eliminated_until is not None

    def probing(self, channel_id: str, at: float) -> bool:
        """Back from a cool-off, awaiting the probe's outcome."""
        h = self._channels.get(channel_id)
        return h is not None and h.eliminated_until is not None and at >= h.eliminated_until

    def probe_due(self, channel_id: str, at: float) -> bool:
        """Awaiting a probe and none sent within the probe interval."""
        h = self._channels.get(channel_id)
        if h is None or h.eliminated_until is None or at < h.eliminated_until or h.hung:
            return False
        return not self._probe_out(h, at)

    def _probe_out(self, h: ChannelHealth, at: float) -> bool:
        """A probe was sent within the probe interval and has not been answered."""
        sent = h.probe_sent_at
        return sent is not None and at - sent < self.config.probe_interval_s

    def flagged(self, channel_id: str) -> bool:
        """Degraded or held as of its last outcome (cheap: for explanations)."""
        h = self._channels.get(channel_id)
        return h is not None and (h.degraded or h.held)

    def state(self, channel_id: str, at: float) -> HealthState:
        h = self._channels.get(channel_id)
        if h is None:
            return HealthState.HEALTHY
        if h.eliminated_until is not None and at < h.eliminated_until:
            return HealthState.ELIMINATED
        if h.eliminated_until is not None or h.held:
            return HealthState.DEGRADED
        rate, _, n = self._window(h, at)
        if self._degraded(rate, n, self.baseline(channel_id, at)):
            return HealthState.DEGRADED
        return HealthState.HEALTHY

    def baseline(self, channel_id: str, at: float) -> float:
        """The long-run success rate, shrunk toward the prior."""
        h = self._channels.get(channel_id)
        if h is None:
            return self._prior
        return h.baseline.mean(at, self._prior, self._strength)

    def recent_rate(self, channel_id: str, at: float) -> float | None:
        h = self._channels.get(channel_id)
        if h is None:
            return None
        rate, _, n = self._window(h, at)
        return rate if n else None

    def eliminated_until(self, channel_id: str) -> float | None:
        h = self._channels.get(channel_id)
        return h.eliminated_until if h is not None else None

    def eliminations(self, channel_id: str) -> int:
        h = self._channels.get(channel_id)
        return h.eliminations if h is not None else 0

    def cool_off_s(self, channel_id: str) -> float:
        h = self._channels.get(channel_id)
        return h.cool_off_s if h is not None else self.config.cool_off_s

    # -- internals -------------------------------------------------------------------------

    def _get(self, channel_id: str) -> ChannelHealth:
        h = self._channels.get(channel_id)
        if h is None:
            h = self._channels[channel_id] = ChannelHealth(self.config)
        return h

    def _window(self, h: ChannelHealth, at: float) -> tuple[float, float, int]:
        """(success rate, share hung, outcomes) of the short window as seen at `at`."""
        since = at - self.config.window_s
        n = successes = hung = 0
        for when, ok, lost in h.recent:
            if when >= since:
                n += 1
                successes += ok
                hung += lost
        if not n:
            return 1.0, 0.0, 0
        return successes / n, hung / n, n

    def _mostly_hung(self, h: ChannelHealth, at: float) -> bool:
        """At least half the failures of the short window hung or lost their answer."""
        since = at - self.config.window_s
        failures = hung = 0
        for when, ok, lost in h.recent:
            if when >= since and not ok:
                failures += 1
                hung += lost
        return failures > 0 and 2 * hung >= failures

    def _degraded(self, rate: float, n: int, long_run: float) -> bool:
        """Noticeably below the long-run rate, and not by the chance of a small window."""
        cfg = self.config
        return (
            n >= cfg.min_samples
            and rate < cfg.degraded_ratio * long_run
            and bernoulli_llr(rate * n, n, long_run) >= DEGRADED_LLR
        )

    def _before_streak(self, h: ChannelHealth, at: float) -> float | None:
        """The success rate of the window's outcomes before the current failure streak, None
        with fewer than five of them."""
        since = at - self.config.window_s
        earlier = list(h.recent)[: max(0, len(h.recent) - h.streak)]
        kept = [ok for when, ok, _ in earlier if when >= since]
        return sum(kept) / len(kept) if len(kept) >= 5 else None

    def _streak_needed(self, reference: float) -> float:
        """Failures in a row that a success rate of `reference` makes improbable enough."""
        cfg = self.config
        failure = 1.0 - reference
        if failure <= 0.0:
            return cfg.failure_streak
        if failure >= 1.0:
            return math.inf
        return max(cfg.failure_streak, math.log(cfg.streak_significance) / math.log(failure))

    def _collapsed(self, h: ChannelHealth, at: float) -> bool:
        cfg = self.config
        long_run = h.baseline.mean(at, self._prior, self._strength)
        rate, hung, n = self._window(h, at)
        h.degraded = self._degraded(rate, n, long_run)
        if h.streak >= cfg.failure_streak:
            # Judged against the lower of the long-run rate and the rate just before the
            # streak: a channel already limping makes long streaks less surprising.
            before = self._before_streak(h, at)
            reference = long_run if before is None else min(long_run, before)
            if h.streak >= self._streak_needed(reference):
                return True
        if n < cfg.min_samples:
            return False
        if hung >= cfg.hang_share:
            return True
        error = math.sqrt(long_run * (1.0 - long_run) / n)
        return rate < cfg.collapse_ratio * long_run and long_run - rate >= cfg.collapse_z * error

    def _has_alternative(self, channel_id: str, at: float) -> bool:
        """Every issuer this channel serves has another channel still available."""
        for issuer in self._issuers_of.get(channel_id, ()):
            others = self._channels_of.get(issuer, set())
            if not any(cid != channel_id and self.usable(cid, at) for cid in others):
                return False
        return True

    def _probe_result(self, channel_id: str, h: ChannelHealth, ok: bool, at: float) -> None:
        h.probe_sent_at = None
        if ok or not self.config.enabled or not self._has_alternative(channel_id, at):
            # Restored (or kept for lack of an alternative): judge it on fresh outcomes only.
            h.eliminated_until = None
            h.cool_off_s = self.config.cool_off_s
            h.recent.clear()
            h.streak = 0
            h.degraded = False
            h.held = not ok
            return
        if not h.hung:
            # A probe sent first costs a payment when the channel is still down: wait longer
            # before the next. A last-resort attempt costs none, so a channel that still
            # hangs is out for the same cool-off again, and one back from an outage is
            # found soon.
            h.cool_off_s = min(2.0 * h.cool_off_s, self.config.max_cool_off_s)
        h.eliminated_until = at + h.cool_off_s
        h.eliminations += 1
