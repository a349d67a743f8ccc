"""Sufficient statistics that cost O(1) per update and read, whatever the history."""

from __future__ import annotations

import math
from collections import deque


def _decay(half_life_s: float) -> float:
    """The rate λ of exp(-λ·Δt) for a half-life (an infinite half-life never forgets)."""
    if half_life_s <= 0:
        raise ValueError("a half-life must be positive")
    return 0.0 if math.isinf(half_life_s) else math.log(2.0) / half_life_s


def bernoulli_llr(successes: float, total: float, p: float) -> float:
    """How strongly `successes` out of `total` speak against a success probability `p`: the
    log-likelihood ratio of their own rate against `p` (total × KL divergence). Unlike a
    z-score it stays honest near 0 and 1. About 8 is four standard errors' worth."""
    if total <= 0.0 or not 0.0 < p < 1.0:
        return 0.0
    rate = min(max(successes / total, 0.0), 1.0)
    llr = 0.0
    if rate > 0.0:
        llr += rate * math.log(rate / p)
    if rate < 1.0:
        llr += (1.0 - rate) * math.log((1.0 - rate) / (1.0 - p))
    return total * llr


class DecayedRate:
    """Successes and failures whose weight halves every `half_life_s` seconds.

    Decay is applied lazily, when the counter is touched, so neither `add` nor a read walks
    any history. A moment earlier than the last update is taken as that update's moment
    (time never runs backwards here)."""

    __slots__ = ("_at", "_failures", "_lam", "_successes", "raw")

    def __init__(self, half_life_s: float) -> None:
        self._lam = _decay(half_life_s)
        self._successes = 0.0
        self._failures = 0.0
        self._at = -math.inf
        self.raw = 0  # outcomes ever counted, undiscounted

    def _factor(self, at: float) -> float:
        if at <= self._at or self._lam == 0.0:
            return 1.0
        return math.exp(-self._lam * (at - self._at))

    def add(self, ok: bool, at: float, weight: float = 1.0) -> None:
        factor = self._factor(at)
        self._successes *= factor
        self._failures *= factor
        if ok:
            self._successes += weight
        else:
            self._failures += weight
        self._at = max(self._at, at)
        self.raw += 1

    def counts(self, at: float) -> tuple[float, float]:
        """(successes, failures) as weighed at `at`."""
        factor = self._factor(at)
        return self._successes * factor, self._failures * factor

    def subtract(self, part: DecayedRate, at: float) -> None:
        """Take back what `part` — a counter of the same half-life that saw a subset of
        these outcomes with the same weights — holds at `at` (never below zero). `raw`
        keeps counting every outcome ever added."""
        factor = self._factor(at)
        successes, failures = part.counts(at)
        self._successes = max(0.0, self._successes * factor - successes)
        self._failures = max(0.0, self._failures * factor - failures)
        self._at = max(self._at, at)

    def rate(self, at: float) -> float | None:
        """The discounted success rate, None before any outcome."""
        successes, failures = self.counts(at)
        total = successes + failures
        return successes / total if total > 0.0 else None

    def mean(self, at: float, prior: float, strength: float) -> float:
        """The rate shrunk toward `prior` as if it were `strength` earlier outcomes."""
        successes, failures = self.counts(at)
        return (successes + strength * prior) / (successes + failures + strength)


class DecayedMean:
    """A time-discounted mean (an EWMA over elapsed time rather than over samples)."""

    __slots__ = ("_at", "_lam", "_sum", "_weight")

    def __init__(self, half_life_s: float) -> None:
        self._lam = _decay(half_life_s)
        self._sum = 0.0
        self._weight = 0.0
        self._at = -math.inf

    def _factor(self, at: float) -> float:
        if at <= self._at or self._lam == 0.0:
            return 1.0
        return math.exp(-self._lam * (at - self._at))

    def add(self, value: float, at: float) -> None:
        factor = self._factor(at)
        self._sum = self._sum * factor + value
        self._weight = self._weight * factor + 1.0
        self._at = max(self._at, at)

    def value(self) -> float | None:
        """The mean (a common decay factor cancels out), None before any sample."""
        return self._sum / self._weight if self._weight > 0.0 else None

    def blended(self, at: float, prior: float, prior_weight: float) -> float:
        """The mean shrunk toward `prior` as if it were `prior_weight` earlier samples."""
        factor = self._factor(at)
        return (self._sum * factor + prior * prior_weight) / (self._weight * factor + prior_weight)


class RecentSamples:
    """The last `size` values, for percentiles on demand (a read sorts at most `size`)."""

    __slots__ = ("_values",)

    def __init__(self, size: int = 256) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._values)

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile, None when empty."""
        if not self._values:
            return None
        ordered = sorted(self._values)
        index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[index]


class OutcomeWindow:
    """The last `size` outcomes with a running count of successes.

    `seeded=True` starts the window full of successes (an optimistic start); `real` counts
    the outcomes actually pushed, up to `size`."""

    __slots__ = ("_items", "_successes", "real")

    def __init__(self, size: int, *, seeded: bool = False) -> None:
        if size < 1:
            raise ValueError("a window holds at least one outcome")
        self._items: deque[bool] = deque([True] * size if seeded else (), maxlen=size)
        self._successes = size if seeded else 0
        self.real = 0

    @property
    def size(self) -> int:
        maxlen = self._items.maxlen
        assert maxlen is not None
        return maxlen

    def push(self, ok: bool) -> None:
        if len(self._items) == self.size:
            self._successes -= self._items[0]
        self._items.append(ok)
        self._successes += ok
        self.real = min(self.real + 1, self.size)

    def mean(self) -> float | None:
        return self._successes / len(self._items) if self._items else None

    def __len__(self) -> int:
        return len(self._items)


def normal_cdf(z: float) -> float:
    """P(Z ≤ z) for a standard normal Z."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


# z of the 99th percentile of a standard normal: how far a log-normal's p99 is from its median
_Z99 = 2.3263


class LogNormalLatency:
    """How long a channel takes to answer, as a log-normal: the log-mean and log-variance are
    time-discounted means of the answers seen, blended at read time with a stated median and
    p99 as if those were `prior_weight` answers. O(1) per update and read."""

    __slots__ = ("_log", "_square")

    def __init__(self, half_life_s: float) -> None:
        self._log = DecayedMean(half_life_s)
        self._square = DecayedMean(half_life_s)

    def add(self, latency_ms: float, at: float) -> None:
        log = math.log(max(latency_ms, 1.0))
        self._log.add(log, at)
        self._square.add(log * log, at)

    def within(
        self, ms: float, at: float, *, median_ms: float, p99_ms: float, prior_weight: float
    ) -> float:
        """P(an answer takes at most `ms`)."""
        if ms <= 0.0:
            return 0.0
        prior_mu = math.log(max(median_ms, 1.0))
        prior_sigma = max(math.log(max(p99_ms, median_ms, 1.0)) - prior_mu, 0.0) / _Z99
        mu = self._log.blended(at, prior_mu, prior_weight)
        square = self._square.blended(at, prior_mu**2 + prior_sigma**2, prior_weight)
        sigma = math.sqrt(max(square - mu * mu, 1e-6))
        return normal_cdf((math.log(ms) - mu) / sigma)
