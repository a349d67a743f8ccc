"""The O(1) statistics strategies keep."""

from __future__ import annotations

import pytest

from payhub.routing.base import Result
from payhub.routing.ordering import Option, strict_order, tolerance_order
from payhub.routing.outcome import channel_outcome
from payhub.routing.stats import DecayedMean, DecayedRate, OutcomeWindow, RecentSamples


def test_what_counts_against_a_channel() -> None:
    assert channel_outcome(Result.APPROVED) is True
    assert channel_outcome(Result.SOFT_DECLINE) is False
    assert channel_outcome(Result.UNKNOWN) is False
    assert channel_outcome(Result.ERROR) is False
    assert channel_outcome(Result.HARD_DECLINE) is None


def test_decayed_rate_halves_per_half_life() -> None:
    rate = DecayedRate(10.0)
    for _ in range(8):
        rate.add(True, 0.0)
    rate.add(False, 10.0)  # the 8 successes now weigh 4
    assert rate.counts(10.0) == pytest.approx((4.0, 1.0))
    assert rate.counts(20.0) == pytest.approx((2.0, 0.5))
    assert rate.rate(20.0) == pytest.approx(0.8)
    assert rate.mean(20.0, prior=0.5, strength=2.5) == pytest.approx((2.0 + 1.25) / 5.0)
    assert rate.raw == 9
    rate.add(True, 5.0)  # earlier than the last update: counted as of then, no growth
    assert rate.counts(10.0) == pytest.approx((5.0, 1.0))


def test_decayed_mean_blends_with_a_prior() -> None:
    mean = DecayedMean(10.0)
    assert mean.value() is None
    mean.add(100.0, 0.0)
    mean.add(300.0, 10.0)
    assert mean.value() == pytest.approx((50.0 + 300.0) / 1.5)
    assert mean.blended(10.0, 200.0, 1.5) == pytest.approx((350.0 + 300.0) / 3.0)


def test_recent_samples_percentiles() -> None:
    samples = RecentSamples(100)
    assert samples.quantile(0.5) is None
    for value in range(1, 201):
        samples.add(float(value))
    assert len(samples) == 100
    assert samples.quantile(0.5) == 150.0
    assert samples.quantile(0.9) == 190.0


def test_outcome_window() -> None:
    seeded = OutcomeWindow(4, seeded=True)
    assert seeded.mean() == 1.0 and seeded.real == 0
    seeded.push(False)
    seeded.push(False)
    assert seeded.mean() == 0.5 and seeded.real == 2
    empty = OutcomeWindow(3)
    assert empty.mean() is None
    for ok in (True, False, False, True):
        empty.push(ok)
    assert empty.mean() == pytest.approx(1 / 3) and len(empty) == 3


def test_tolerance_order_prefers_the_cheaper_within_the_band() -> None:
    options = [
        Option("best", 0.950, 30, 100.0),
        Option("close", 0.945, 20, 300.0),
        Option("closer_same_fee", 0.944, 20, 150.0),
        Option("far", 0.90, 1, 50.0),
    ]
    assert tolerance_order(options, 0.01) == ["closer_same_fee", "close", "best", "far"]
    assert tolerance_order(options, 0.0) == strict_order(options)
    assert strict_order(options) == ["best", "close", "closer_same_fee", "far"]
