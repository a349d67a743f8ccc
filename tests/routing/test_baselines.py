"""The published baselines and the oracle."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from payhub.channels.base import CardType
from payhub.channels.sim.draws import World
from payhub.channels.sim.scenario import builtin_scenario, scenario_from_data
from payhub.routing.base import Ranker, Result
from payhub.routing.baselines import (
    DiscountedThompson,
    OracleRanker,
    SlidingWindowUCB,
    SuccessRateV3,
)
from tests.routing.helpers import START, channel, context, fixed, play

A = channel("a", fee_bps=30)
B = channel("b", fee_bps=20)


def observe_many(ranker: Ranker, channel_id: str, results: list[Result], at_s: float = 0.0) -> None:
    ctx = context(at_s)
    for result in results:
        ranker.observe(ctx, channel_id, result, 200)


def test_names() -> None:
    assert SlidingWindowUCB().name == "sw_ucb"
    assert DiscountedThompson().name == "thompson"
    assert SuccessRateV3().name == "sr_v3"
    assert OracleRanker(World(builtin_scenario()), START).name == "oracle"


@pytest.mark.parametrize("make", [SlidingWindowUCB, DiscountedThompson, SuccessRateV3])
def test_each_learner_converges_to_the_better_channel(make: type[Ranker]) -> None:
    trace = play(make(), [A, B], fixed({"a": 0.95, "b": 0.80}), 4000)
    assert trace.share("a", 1000) >= 0.85


@pytest.mark.parametrize("make", [SlidingWindowUCB, DiscountedThompson, SuccessRateV3])
def test_hard_declines_are_not_counted(make: type[Ranker]) -> None:
    plain, declined = make(), make()
    for ranker in (plain, declined):
        observe_many(ranker, "a", [Result.APPROVED] * 30 + [Result.SOFT_DECLINE] * 3)
        observe_many(ranker, "b", [Result.APPROVED] * 28 + [Result.SOFT_DECLINE] * 5)
    observe_many(declined, "a", [Result.HARD_DECLINE] * 300)
    ctx = context(1.0)
    left, right = plain.rank(ctx, [A, B]).scores, declined.rank(ctx, [A, B]).scores
    assert left["a"].expected_success == right["a"].expected_success
    assert left["a"].samples == right["a"].samples
    assert declined.available("a", ctx.at)


@pytest.mark.parametrize("make", [DiscountedThompson, SuccessRateV3])
def test_the_same_seed_gives_the_same_decisions(make: type[Ranker]) -> None:
    channels = [channel(f"c{i}") for i in range(3)]
    truth = fixed({"c0": 0.9, "c1": 0.91, "c2": 0.89})
    first = play(make(), channels, truth, 800)
    again = play(make(), channels, truth, 800)
    assert first.firsts == again.firsts


# -- sliding-window UCB --------------------------------------------------------------------


def test_ucb_tries_untried_channels_first() -> None:
    ranker = SlidingWindowUCB()
    observe_many(ranker, "a", [Result.APPROVED] * 10)
    ranking = ranker.rank(context(0.0), [A, B])
    assert ranking.order == ["b", "a"]
    assert ranking.scores["b"].note == "untried in window"


def test_ucb_index_is_the_window_mean_plus_the_padding() -> None:
    ranker = SlidingWindowUCB(window=500, xi=0.6, c=1.0)
    observe_many(ranker, "a", [Result.APPROVED] * 8 + [Result.SOFT_DECLINE] * 2)
    observe_many(ranker, "b", [Result.APPROVED] * 27 + [Result.SOFT_DECLINE] * 3)
    ranking = ranker.rank(context(0.0), [A, B])
    t = 40
    index_a = 0.8 + math.sqrt(0.6 * math.log(t) / 10)
    index_b = 0.9 + math.sqrt(0.6 * math.log(t) / 30)
    assert ranking.scores["a"].note == f"ucb {index_a:.3f}"
    assert ranking.scores["b"].note == f"ucb {index_b:.3f}"
    assert ranking.order == ["a", "b"]  # less evidence, more padding


def test_ucb_forgets_what_slid_out_of_the_window() -> None:
    ranker = SlidingWindowUCB(window=50)
    observe_many(ranker, "a", [Result.SOFT_DECLINE] * 50)
    assert ranker.rank(context(0.0), [A]).scores["a"].expected_success == 0.0
    observe_many(ranker, "b", [Result.APPROVED] * 50)  # a slides out entirely
    assert ranker.rank(context(0.0), [A]).scores["a"].note == "untried in window"


def test_ucb_windows_are_per_issuer_and_card_type() -> None:
    ranker = SlidingWindowUCB()
    ranker.observe(context(0.0, issuer="ICBC"), "a", Result.APPROVED, 200)
    assert ranker.rank(context(0.0, issuer="ICBC"), [A]).scores["a"].samples == 1
    assert ranker.rank(context(0.0, issuer="CCB"), [A]).scores["a"].samples == 0
    credit = context(0.0, issuer="ICBC", card_type=CardType.CREDIT)
    assert ranker.rank(credit, [A]).scores["a"].samples == 0


# -- discounted Thompson -------------------------------------------------------------------


def test_thompson_discounts_every_channel_on_each_outcome_of_the_segment() -> None:
    ranker = DiscountedThompson(gamma=0.5)
    observe_many(ranker, "a", [Result.APPROVED] * 4)
    observe_many(ranker, "b", [Result.SOFT_DECLINE] * 2)
    scores = ranker.rank(context(0.0), [A, B]).scores
    # a's count was (((1·½+1)·½+1)·½+1) = 1.875, then halved twice by b's outcomes.
    assert scores["a"].samples == pytest.approx(1.875 / 4)
    assert scores["b"].samples == pytest.approx(1.5)


def test_thompson_follows_a_change() -> None:
    def truth(cid: str, at_s: float, issuer: str, card: CardType) -> float:
        if cid == "a":
            return 0.3 if at_s >= 200.0 else 0.95
        return 0.85

    trace = play(DiscountedThompson(), [A, B], truth, 3000)  # the change at payment 1000
    assert trace.share("a", 500, 1000) >= 0.8
    assert trace.share("a", 1300, 3000) <= 0.1


# -- success rate v3 -----------------------------------------------------------------------


def test_sr_windows_start_full_of_successes() -> None:
    ranker = SuccessRateV3(hedging=0.0)
    ranking = ranker.rank(context(0.0), [A, B])
    assert ranking.scores["a"].expected_success == 1.0
    assert ranking.order == ["b", "a"]  # equal scores: the cheaper


def test_sr_cold_segments_shrink_toward_the_channel_rate() -> None:
    ranker = SuccessRateV3(window=125, prior_weight=20, hedging=0.0)
    ctx = context(0.0, issuer="CCB")
    for _ in range(25):  # 25 failures on CCB: the channel's overall window is 100/125
        ranker.observe(ctx, "a", Result.SOFT_DECLINE, 200)
    overall = 100 / 125
    assert ranker.score("a", ("ICBC", "debit")) == pytest.approx((overall, 0))
    segment_mean = 100 / 125  # the CCB window: 100 seeded successes left, 25 failures
    n = 25
    expected = (n * segment_mean + 20 * overall) / (n + 20)
    assert ranker.score("a", ("CCB", "debit")) == pytest.approx((expected, 25))
    for _ in range(200):  # a full window of real outcomes: the window mean alone
        ranker.observe(ctx, "a", Result.APPROVED, 200)
    assert ranker.score("a", ("CCB", "debit")) == (1.0, 125)


def test_sr_hedges_about_five_percent_to_a_non_leader() -> None:
    ranker = SuccessRateV3(seed=3)
    observe_many(ranker, "a", [Result.APPROVED] * 200)
    observe_many(ranker, "b", [Result.APPROVED] * 150 + [Result.SOFT_DECLINE] * 50)
    firsts = [ranker.rank(context(float(n)), [A, B]).order[0] for n in range(4000)]
    hedged = firsts.count("b") / len(firsts)
    assert 0.04 <= hedged <= 0.06
    assert SuccessRateV3(hedging=1.0).rank(context(0.0), [A]).order == ["a"]  # nothing to hedge to


def test_sr_eliminates_below_the_threshold_and_readmits_after_the_ttl() -> None:
    ranker = SuccessRateV3(elimination_threshold=0.4, elimination_ttl_s=300.0)
    ctx = context(10.0)
    failures = 0
    while ranker.available("a", ctx.at):
        ranker.observe(ctx, "a", Result.SOFT_DECLINE, 200)
        failures += 1
    assert failures == 76  # 125 seeded successes: below 0.4 once 49/125 remain
    assert not ranker.available("a", (START + timedelta(seconds=309.9)))
    assert ranker.available("a", (START + timedelta(seconds=310.0)))
    assert ranker.score("a", ("CCB", "debit"))[0] == 1.0  # a fresh overall window


# -- the oracle ----------------------------------------------------------------------------


def _two_channel_world() -> World:
    chan = {
        "issuers": "*",
        "latency_ms": {"median": 100, "p99": 400},
        "timeout_ms": 3000,
        "success": {"default": 0.95},
    }
    return World(
        scenario_from_data(
            {
                "name": "two",
                "seed": 1,
                "duration_s": 600,
                "payments": 10,
                "currency": "CNY",
                "amount": {"median_minor": 5000, "sigma": 0.5},
                "hard_decline_rate": 0.01,
                "issuers": [{"code": "ICBC", "share": 1.0}],
                "channels": [
                    {**chan, "id": "a", "fee_bps": {"debit": 30, "credit": 50}},
                    {**chan, "id": "b", "fee_bps": {"debit": 20, "credit": 40}},
                ],
                "incidents": [
                    {"channel": "b", "start_s": 100, "end_s": 200, "success_multiplier": 0.5}
                ],
            }
        )
    )


def test_oracle_ranks_by_the_true_probability_then_the_fee() -> None:
    oracle = OracleRanker(_two_channel_world(), START)
    before = oracle.rank(context(50.0), [A, B])
    assert before.order == ["b", "a"]  # equal chances: the cheaper
    assert before.scores["a"].expected_success == pytest.approx(0.95)
    during = oracle.rank(context(150.0), [A, B])
    assert during.order == ["a", "b"]
    assert during.scores["b"].expected_success == pytest.approx(0.475)
    assert oracle.rank(context(250.0), [A, B]).order == ["b", "a"]


def test_oracle_on_the_default_scenario_sees_incidents_and_hangs() -> None:
    scenario = builtin_scenario("default")
    world = World(scenario)
    start = scenario.start_at
    assert start is not None
    oracle = OracleRanker(world, start)
    infos = [scenario.info(cid) for cid in ("unionpay_quick", "netsunion", "icbc_direct")]

    def order(at_s: float, issuer: str) -> list[str]:
        ctx = replace(context(0.0, issuer=issuer), at=start + timedelta(seconds=at_s))
        eligible = [i for i in infos if i.accepts(issuer=issuer, amount=5000, currency="CNY")]
        return oracle.rank(ctx, eligible).order

    assert order(100.0, "ICBC")[0] == "icbc_direct"
    assert order(3050.0, "ICBC")[-1] == "icbc_direct"  # hanging 80 % of requests
    assert order(1300.0, "CCB") == ["netsunion", "unionpay_quick"]  # UnionPay at 30 %
    blind = OracleRanker(world, start, delivery_aware=False)
    ctx = replace(context(0.0, issuer="ICBC"), at=start + timedelta(seconds=3050.0))
    assert blind.rank(ctx, infos[1:]).order[0] == "icbc_direct"


def test_oracle_learns_nothing_and_eliminates_nothing() -> None:
    oracle = OracleRanker(_two_channel_world(), START)
    before = oracle.rank(context(50.0), [A, B])
    observe_many(oracle, "b", [Result.SOFT_DECLINE] * 500)
    assert oracle.available("b", context(50.0).at)
    assert oracle.rank(context(50.0), [A, B]).order == before.order
