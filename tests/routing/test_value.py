"""A channel's worth as a payment's first attempt, the cascade behind it included."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.routing.base import Result
from payhub.routing.engine import Router
from payhub.routing.learner import PayhubRanker
from payhub.routing.stats import LogNormalLatency
from payhub.routing.value import Attempt, first_value
from tests.routing.helpers import NO_RULES, channel, context

unit = st.floats(0.0, 1.0)


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    approval = draw(unit)
    return Attempt(approval, draw(st.floats(0.0, 1.0 - approval)))


@settings(max_examples=300, deadline=None)
@given(first=attempts(), in_time=unit, following=st.one_of(st.none(), attempts()))
def test_the_value_lies_between_the_first_approval_and_one(
    first: Attempt, in_time: float, following: Attempt | None
) -> None:
    worth = first_value(first, in_time, following)
    assert first.approval - 1e-12 <= worth.value <= 1.0 + 1e-12
    assert 0.0 <= worth.rescue <= 1.0 + 1e-12
    if following is None:
        assert worth.value == first.approval and worth.rescue == 0.0


@settings(max_examples=300, deadline=None)
@given(first=attempts(), in_time=unit, low=unit, high=unit)
def test_a_likelier_following_channel_never_lowers_the_value(
    first: Attempt, in_time: float, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    worse = first_value(first, in_time, Attempt(low, 0.0)).value
    better = first_value(first, in_time, Attempt(high, 0.0)).value
    assert worse <= better + 1e-12


@settings(max_examples=300, deadline=None)
@given(approval=unit, hangs=st.tuples(unit, unit), in_time=unit, then=unit)
def test_hangs_are_worth_less_than_declines(
    approval: float, hangs: tuple[float, float], in_time: float, then: float
) -> None:
    # Same approval: the more of the failures hang, the less the cascade can rescue.
    few, many = sorted(h * (1.0 - approval) for h in hangs)
    fewer = first_value(Attempt(approval, few), in_time, Attempt(then, 0.0)).value
    more = first_value(Attempt(approval, many), in_time, Attempt(then, 0.0)).value
    assert more <= fewer + 1e-12


@settings(max_examples=300, deadline=None)
@given(first=attempts(), times=st.tuples(unit, unit), then=unit)
def test_declines_that_come_back_sooner_are_worth_more(
    first: Attempt, times: tuple[float, float], then: float
) -> None:
    late, soon = sorted(times)
    following = Attempt(then, 0.0)
    assert (
        first_value(first, late, following).value
        <= first_value(first, soon, following).value + 1e-12
    )


def test_the_value_counts_the_declines_the_following_channel_turns_into_approvals() -> None:
    # 0.9 approved; of the 0.1 failing, 0.02 hang, 0.08 are declined, 3/4 of those in time,
    # and the next channel approves 0.8 of what it gets: 0.9 + 0.08 * 0.75 * 0.8.
    worth = first_value(Attempt(0.9, 0.02), 0.75, Attempt(0.8, 0.0))
    assert math.isclose(worth.value, 0.9 + 0.08 * 0.75 * 0.8)
    assert math.isclose(worth.rescue, 0.8 * 0.75 * 0.8)


@settings(max_examples=200, deadline=None)
@given(
    median=st.floats(1.0, 5000.0),
    spread=st.floats(1.0, 20.0),
    seen=st.lists(st.floats(1.0, 10_000.0), max_size=30),
    ms=st.tuples(st.floats(0.0, 20_000.0), st.floats(0.0, 20_000.0)),
)
def test_the_latency_model_is_a_distribution(
    median: float, spread: float, seen: list[float], ms: tuple[float, float]
) -> None:
    model = LogNormalLatency(300.0)
    for n, latency in enumerate(seen):
        model.add(latency, float(n))
    shorter, longer = sorted(ms)

    def within(limit: float) -> float:
        at = float(len(seen))
        return model.within(limit, at, median_ms=median, p99_ms=median * spread, prior_weight=5.0)

    assert 0.0 <= within(shorter) <= within(longer) <= 1.0


def test_with_no_answers_seen_the_latency_model_is_the_stated_one() -> None:
    model = LogNormalLatency(300.0)

    def within(ms: float) -> float:
        return model.within(ms, 0.0, median_ms=200.0, p99_ms=800.0, prior_weight=5.0)

    assert math.isclose(within(200.0), 0.5, abs_tol=1e-6)
    assert math.isclose(within(800.0), 0.99, abs_tol=1e-3)
    assert within(0.0) == 0.0


# -- the first channel, chosen by its worth to the payment ---------------------------------

DEAR = channel("dear", fee_bps=40, latency_ms=200.0)
CHEAP = channel("cheap", fee_bps=20, latency_ms=200.0)


def taught(dear: float, cheap: float, *, hang: bool = False) -> PayhubRanker:
    """1000 outcomes on each channel at these approval rates, failures spread evenly; the
    cheap one's failures hang when `hang`, else they are declines."""
    ranker = PayhubRanker(explore_cap=0.0)
    ctx = context(0.0)
    for cid, rate, lost in (("dear", dear, False), ("cheap", cheap, hang)):
        failure = Result.UNKNOWN if lost else Result.SOFT_DECLINE
        for n in range(1000):
            ok = math.floor((n + 1) * rate) > math.floor(n * rate)
            ranker.observe(ctx, cid, Result.APPROVED if ok else failure, 200)
    return ranker


def first(ranker: PayhubRanker, *, cascade: bool) -> str:
    router = Router(ranker, NO_RULES, cascade=cascade, budget_ms=1000)
    return router.decide(context(1.0), [DEAR, CHEAP]).order[0]


def test_the_cascade_never_puts_a_less_likely_first_attempt_first() -> None:
    # 0.95 against 0.93: two points apart, beyond the 1-point tolerance. With the other
    # channel behind either, the payment's chance is the same (0.9965 both ways), but the
    # likelier first attempt still goes first: a cascade costs the customer time, and a
    # second channel's approvals are not independent of the first's declines in practice.
    ranker = taught(0.95, 0.93)
    assert first(ranker, cascade=True) == "dear"
    assert first(ranker, cascade=False) == "dear"
    # Within the tolerance, the cheaper, with or without the cascade.
    close = taught(0.95, 0.945)
    assert first(close, cascade=True) == "cheap"
    assert first(close, cascade=False) == "cheap"


def test_a_channel_whose_failures_hang_is_worth_less_than_one_that_declines() -> None:
    # The same approval rate, and the cheap one within the tolerance, but its failures are
    # hangs: nothing can follow them, so with the cascade on the dearer one goes first.
    declines = taught(0.96, 0.96)
    assert first(declines, cascade=True) == "cheap"
    hangs = taught(0.96, 0.96, hang=True)
    assert first(hangs, cascade=False) == "cheap"
    assert first(hangs, cascade=True) == "dear"
    reason = Router(hangs, NO_RULES, budget_ms=1000).decide(context(1.0), [DEAR, CHEAP])
    assert reason.ranking.reason.startswith("dear: worth more to the payment than cheap")


def test_a_channel_whose_declines_come_too_late_to_cascade_is_worth_less() -> None:
    # Same approvals, but the cheap channel's declines come after 950 ms: too late for the
    # other channel (200 ms) to fit in the 1 s budget.
    ranker = PayhubRanker(explore_cap=0.0)
    ctx = context(0.0)
    for cid, latency in (("dear", 200), ("cheap", 950)):
        for n in range(1000):
            ok = n % 25 != 0
            ranker.observe(ctx, cid, Result.APPROVED if ok else Result.SOFT_DECLINE, latency)
    assert first(ranker, cascade=False) == "cheap"
    assert first(ranker, cascade=True) == "dear"
