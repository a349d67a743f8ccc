"""The statistics of multi-seed routing runs: means with 95 % confidence intervals, and the
paired difference between two strategies over the same seeds.

A single run of a scenario is one draw of the simulated world; two strategies a few payments
apart in 20 000 may swap places on the next draw. Replaying the scenario under several world
seeds, every strategy on the same draws within a seed, gives per seed a difference between
two strategies that is free of the seed's own luck (both met the same payments, issuers and
channel answers); the mean of those differences and its t interval say whether one strategy
is ahead. No SciPy: the t quantiles are tabulated, and past 30 degrees of freedom taken from
the Cornish–Fisher expansion around the normal quantile (off by under 1e-5 there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

CONFIDENCE = 0.95
# Two-sided 95 %: the 0.975 quantile of Student's t by degrees of freedom.
_T975: dict[int, float] = {
    1: 12.706204736,
    2: 4.302652730,
    3: 3.182446305,
    4: 2.776445105,
    5: 2.570581836,
    6: 2.446911851,
    7: 2.364624252,
    8: 2.306004135,
    9: 2.262157163,
    10: 2.228138852,
    11: 2.200985160,
    12: 2.178812830,
    13: 2.160368656,
    14: 2.144786688,
    15: 2.131449546,
    16: 2.119905299,
    17: 2.109815578,
    18: 2.100922040,
    19: 2.093024054,
    20: 2.085963447,
    21: 2.079613845,
    22: 2.073873068,
    23: 2.068657610,
    24: 2.063898562,
    25: 2.059538553,
    26: 2.055529439,
    27: 2.051830516,
    28: 2.048407142,
    29: 2.045229642,
    30: 2.042272456,
}
_Z975 = 1.959963984540054

Verdict = Literal["ahead", "level", "behind", "n/a"]


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (df ≥ 1)."""
    if df < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    if df in _T975:
        return _T975[df]
    z, v = _Z975, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean and its 95 % t interval; no interval from fewer than two values."""

    mean: float
    low: float | None
    high: float | None
    n: int

    def contains(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    def to_json(self, digits: int = 6) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, digits)

        return {"mean": r(self.mean), "ci_low": r(self.low), "ci_high": r(self.high), "n": self.n}


def mean_ci(values: Sequence[float]) -> Interval:
    """The mean of `values` and its 95 % confidence interval (Student's t, n − 1 degrees of
    freedom). Equal values give an interval of width zero."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n < 2:
        return Interval(mean, None, None, n)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile(n - 1) * math.sqrt(variance / n)
    # Rounding in the sum may put the mean a hair outside a zero-width interval.
    low, high = min(mean - half, mean), max(mean + half, mean)
    return Interval(mean, low, high, n)


@dataclass(frozen=True, slots=True)
class Paired:
    """One strategy against another over the same seeds: the per-seed differences (mine −
    theirs), their mean and interval, and the seeds won, tied (exactly equal) and lost."""

    differences: tuple[float, ...]
    interval: Interval
    won: int
    tied: int
    lost: int

    @property
    def verdict(self) -> Verdict:
        """`ahead` or `behind` when the interval excludes zero, else `level`; `n/a` with a
        single seed (no interval)."""
        low, high = self.interval.low, self.interval.high
        if low is None or high is None:
            return "n/a"
        if low > 0:
            return "ahead"
        if high < 0:
            return "behind"
        return "level"

    def to_json(self, digits: int = 6) -> dict[str, Any]:
        return {
            **self.interval.to_json(digits),
            "won": self.won,
            "tied": self.tied,
            "lost": self.lost,
            "verdict": self.verdict,
            "differences": [round(d, digits) for d in self.differences],
        }


def paired(mine: Sequence[float], theirs: Sequence[float]) -> Paired:
    """`mine` − `theirs`, seed by seed (the two sequences in the same seed order)."""
    if len(mine) != len(theirs):
        raise ValueError("paired values need the same seeds on both sides")
    differences = tuple(a - b for a, b in zip(mine, theirs, strict=True))
    return Paired(
        differences,
        mean_ci(differences),
        won=sum(1 for a, b in zip(mine, theirs, strict=True) if a > b),
        tied=sum(1 for a, b in zip(mine, theirs, strict=True) if a == b),
        lost=sum(1 for a, b in zip(mine, theirs, strict=True) if a < b),
    )
