"""PayHub's learning ranker on synthetic outcome streams."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from payhub.channels.base import CardType
from payhub.routing.base import Ranker, Result
from payhub.routing.health import DowntimeConfig, HealthState
from payhub.routing.learner import SEG_CHANNEL, SEG_FULL, SEG_ISSUER, SEG_PRIOR, PayhubRanker
from tests.routing.helpers import START, Trace, channel, context, fixed, play

A = channel("a", fee_bps=30, latency_ms=200.0)
B = channel("b", fee_bps=20, latency_ms=200.0)


def feed(
    ranker: PayhubRanker,
    channel_id: str,
    successes: int,
    failures: int,
    *,
    at_s: float = 0.0,
    issuer: str = "ICBC",
    card_type: CardType = CardType.DEBIT,
    seed: int = 0,
) -> None:
    """Exactly these outcomes, shuffled, all at one moment (no decay between them)."""
    outcomes = [Result.APPROVED] * successes + [Result.SOFT_DECLINE] * failures
    random.Random(seed).shuffle(outcomes)
    ctx = context(at_s, issuer=issuer, card_type=card_type)
    for result in outcomes:
        ranker.observe(ctx, channel_id, result, 200)


def test_it_is_a_ranker() -> None:
    ranker: Ranker = PayhubRanker()
    assert ranker.name == "payhub"


def test_converges_to_the_better_channel_even_if_it_costs_more() -> None:
    trace = play(
        PayhubRanker(),
        [A, B],
        fixed({"a": 0.95, "b": 0.80}),
        3000,
        issuers=("ICBC", "CCB"),
        card_types=(CardType.DEBIT, CardType.CREDIT),
    )
    assert trace.share("a", 500) >= 0.95


def test_a_clearly_worse_channel_gets_at_most_the_exploration_cap() -> None:
    ranker = PayhubRanker(explore_cap=0.05)
    trace = play(ranker, [A, B], fixed({"a": 0.95, "b": 0.80}), 4000)
    assert trace.share("b", 500) <= 0.05


def test_exploration_never_exceeds_its_cap() -> None:
    # Five equally good channels: posterior draws disagree with the leader all the time, so
    # only the cap holds exploration back.
    channels = [channel(f"c{i}", fee_bps=30) for i in range(5)]
    for cap in (0.02, 0.05, 0.2):
        trace = play(
            PayhubRanker(explore_cap=cap),
            channels,
            fixed({c.channel_id: 0.9 for c in channels}),
            4000,
        )
        explored = trace.notes[500:].count("explore") / len(trace.notes[500:])
        assert explored <= cap + 0.005
        assert explored >= cap / 2  # it does explore when allowed


def test_no_exploration_when_the_cap_is_zero() -> None:
    channels = [channel(f"c{i}") for i in range(4)]
    trace = play(
        PayhubRanker(explore_cap=0.0), channels, fixed({c.channel_id: 0.9 for c in channels}), 1000
    )
    assert "explore" not in trace.notes


def test_traffic_leaves_a_failing_channel_and_comes_back_after_the_incident() -> None:
    def truth(cid: str, at_s: float, issuer: str, card: CardType) -> float:
        if cid == "a":
            return 0.2 if 400.0 <= at_s < 700.0 else 0.95
        return 0.90

    ranker = PayhubRanker()
    trace = play(ranker, [A, B], truth, 7000)  # 5 payments a second: incident = 2000..3500
    assert trace.share("a", 1500, 2000) >= 0.85  # before: the better channel
    k = 40
    assert trace.share("a", 2000 + k, 3500) <= 0.03  # within k payments, away (probes aside)
    assert trace.share("a", 4500, 7000) >= 0.9  # back after the incident


def test_recent_outcomes_move_the_estimate_at_once() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    for n in range(3000):  # ten minutes, five a second, 95 %
        result = Result.SOFT_DECLINE if n % 20 == 0 else Result.APPROVED
        ranker.observe(context(n * 0.2), "a", result, 200)
    before = ranker.rank(context(600.0), [A]).scores["a"]
    for n in range(80):  # then half of them fail, for 16 s
        result = Result.SOFT_DECLINE if n % 2 == 0 else Result.APPROVED
        ranker.observe(context(600.0 + n * 0.2), "a", result, 200)
    after = ranker.rank(context(616.0), [A]).scores["a"]
    assert before.expected_success == pytest.approx(0.95, abs=0.01)
    assert before.note == ""
    assert after.note == "recent drop"
    assert after.expected_success < 0.85  # the fast statistics still hold some 95 % too
    assert ranker.available("a", context(616.0).at)  # worse, not down


def test_a_moderate_drop_is_passed_over_quickly_and_forgiven_after() -> None:
    # Half the approvals gone for five minutes: no downtime, but not the best channel.
    def truth(cid: str, at_s: float, issuer: str, card: CardType) -> float:
        if cid == "a":
            return 0.5 if 400.0 <= at_s < 700.0 else 0.95
        return 0.90

    ranker = PayhubRanker()
    trace = play(ranker, [A, B], truth, 7000)
    assert trace.share("a", 1500, 2000) >= 0.85
    assert trace.share("a", 2000 + 100, 3500) <= 0.08
    assert ranker.available("a", START + timedelta(seconds=1400))
    assert trace.share("a", 4500, 7000) >= 0.9  # forgiven within minutes of the end


def test_the_failing_channel_is_eliminated_then_probed_back() -> None:
    def truth(cid: str, at_s: float, issuer: str, card: CardType) -> float:
        if cid == "a":
            return 0.0 if 400.0 <= at_s < 500.0 else 0.95
        return 0.90

    ranker = PayhubRanker()
    trace = play(ranker, [A, B], truth, 4000, issuers=("ICBC", "CCB"))  # 800 s
    probes = [t for t, note in zip(trace.times, trace.notes, strict=True) if note == "probe"]
    assert probes, "a probe was sent after the cool-off"
    assert all(t >= 400.0 + 30.0 for t in probes)
    assert len(probes) <= 4  # 30, 60, 120 s cool-offs during a 100 s outage
    end = START + timedelta(seconds=800)
    assert ranker.available("a", end)
    assert ranker.stats(end)["a"].state is HealthState.HEALTHY
    # Probes at +30 s and +90 s fail (the outage lasts 100 s); the one at +210 s succeeds.
    assert trace.share("a", 3200) >= 0.9


def test_hard_declines_never_count_against_a_channel() -> None:
    plain, declined = PayhubRanker(), PayhubRanker()
    for ranker in (plain, declined):
        feed(ranker, "a", 95, 5)
        feed(ranker, "b", 90, 10)
    ctx = context(0.0)
    for _ in range(500):
        declined.observe(ctx, "a", Result.HARD_DECLINE, 150)
    at = ctx.at
    assert declined.available("a", at)
    assert declined.health.state("a", ctx.at.timestamp()) is HealthState.HEALTHY
    left = plain.rank(ctx, [A, B]).scores["a"].expected_success
    right = declined.rank(ctx, [A, B]).scores["a"].expected_success
    assert left == pytest.approx(right)


def test_a_channel_that_only_sees_hard_declines_is_never_eliminated() -> None:
    ranker = PayhubRanker()
    for n in range(2000):
        ranker.observe(context(n * 0.1), "a", Result.HARD_DECLINE, 100)
        assert ranker.available("a", context(n * 0.1).at)
    assert ranker.stats()["a"].volume_raw == 0


def test_cold_segments_borrow_from_coarser_ones() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 950, 50, issuer="ICBC")
    feed(ranker, "b", 800, 200, issuer="ICBC")
    # A new issuer and card type: only the channel level knows anything.
    ranking = ranker.rank(context(0.0, issuer="CCB", card_type=CardType.CREDIT), [A, B])
    assert ranking.order == ["a", "b"]
    a, b = ranking.scores["a"], ranking.scores["b"]
    assert a.segment == b.segment == SEG_CHANNEL
    assert a.expected_success == pytest.approx(0.95, abs=0.01)
    assert b.expected_success == pytest.approx(0.80, abs=0.01)


def test_an_issuer_effect_carries_over_to_a_new_card_type() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 300, 200, issuer="ICBC")  # a is poor for ICBC…
    feed(ranker, "a", 950, 50, issuer="CCB")  # …and good for CCB
    score = ranker.rank(context(0.0, issuer="ICBC", card_type=CardType.CREDIT), [A]).scores["a"]
    assert score.segment == SEG_ISSUER
    assert score.expected_success < 0.7  # ICBC credit follows ICBC, not the channel's 0.83


def test_with_plenty_of_evidence_the_finest_segment_speaks() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 950, 50, issuer="CCB")
    feed(ranker, "a", 500, 500, issuer="ICBC", card_type=CardType.CREDIT)
    score = ranker.rank(context(0.0, issuer="ICBC", card_type=CardType.CREDIT), [A]).scores["a"]
    assert score.segment == SEG_FULL
    assert score.expected_success == pytest.approx(0.5, abs=0.03)


def test_a_channel_never_seen_gets_the_prior() -> None:
    ranker = PayhubRanker(prior_success=0.9, explore_cap=0.0)
    score = ranker.rank(context(0.0), [A]).scores["a"]
    assert score.segment == SEG_PRIOR
    assert score.note == "cold prior"
    assert score.expected_success == pytest.approx(0.9)
    assert score.latency_ms == 200.0  # the stated median until latencies are seen


def test_old_evidence_fades_with_the_half_life() -> None:
    ranker = PayhubRanker(half_life_s=100.0, explore_cap=0.0)
    feed(ranker, "a", 500, 500, at_s=0.0)
    early = ranker.rank(context(0.0), [A]).scores["a"]
    late = ranker.rank(context(300.0), [A]).scores["a"]  # three half-lives later
    assert early.samples == pytest.approx(1000.0)
    assert late.samples == pytest.approx(125.0)
    assert late.expected_success > early.expected_success  # pulled back toward the prior


def test_nearly_equal_channels_go_to_the_cheaper() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 950, 50)  # 0.95, fee 30 bps
    feed(ranker, "b", 948, 52)  # 0.948, fee 20 bps
    ranking = ranker.rank(context(0.0), [A, B])
    assert ranking.order == ["b", "a"]
    assert "cheaper" in ranking.reason


def test_a_clearly_better_channel_wins_whatever_its_fee() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 950, 50)  # 0.95, fee 30 bps
    feed(ranker, "b", 900, 100)  # 0.90, fee 20 bps
    ranking = ranker.rank(context(0.0), [A, B])
    assert ranking.order == ["a", "b"]
    assert ranking.scores["a"].fee_minor == 30 and ranking.scores["b"].fee_minor == 20


def test_same_fee_and_success_goes_to_the_faster() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    slow, fast = channel("slow", latency_ms=400.0), channel("fast", latency_ms=400.0)
    ctx = context(0.0)
    for _ in range(200):
        ranker.observe(ctx, "slow", Result.APPROVED, 900)
        ranker.observe(ctx, "fast", Result.APPROVED, 90)
    ranking = ranker.rank(ctx, [slow, fast])
    assert ranking.order == ["fast", "slow"]
    assert ranking.scores["fast"].latency_ms < 120.0  # learnt, not the stated 400


def test_rank_returns_every_candidate_exactly_once() -> None:
    channels = [channel(f"c{i}", fee_bps=10 + i) for i in range(6)]
    ranker = PayhubRanker()
    trace = Trace()
    play(ranker, channels, fixed({c.channel_id: 0.9 for c in channels}), 300, trace=trace)
    ranking = ranker.rank(context(60.0), channels)
    assert sorted(ranking.order) == sorted(c.channel_id for c in channels)
    assert set(ranking.scores) == set(ranking.order)
    assert ranking.reason
    assert ranker.rank(context(60.0), []).order == []


def test_the_same_seed_gives_the_same_decisions() -> None:
    channels = [channel(f"c{i}") for i in range(3)]
    truth = fixed({"c0": 0.9, "c1": 0.91, "c2": 0.89})
    first = play(PayhubRanker(seed=7), channels, truth, 1500)
    again = play(PayhubRanker(seed=7), channels, truth, 1500)
    other = play(PayhubRanker(seed=8), channels, truth, 1500)
    assert first.firsts == again.firsts
    assert first.firsts != other.firsts


# -- recovery after an incident ----------------------------------------------------------


def light_traffic_incident(seed: int) -> Trace:
    """Five minutes at five payments a second to learn that `a` is the better channel, then
    one payment every 2 s; `a` approves a tenth of what it did from 600 s to 900 s."""

    def truth(cid: str, at_s: float, issuer: str, card: CardType) -> float:
        if cid == "a":
            return 0.1 if 600.0 <= at_s < 900.0 else 0.97
        return 0.90

    ranker = PayhubRanker()
    play(ranker, [A, B], truth, 1500, per_second=5.0, seed=seed)  # 0 to 300 s
    return play(ranker, [A, B], truth, 600, per_second=0.5, start_s=300.0, seed=seed)


@pytest.mark.parametrize("seed", range(5))
def test_at_light_traffic_a_channel_is_back_soon_after_its_incident(seed: int) -> None:
    trace = light_traffic_incident(seed)
    assert trace.share_during("a", 480.0, 600.0) >= 0.85  # before: the better channel
    assert trace.share_during("a", 660.0, 900.0) <= 0.1  # away within a minute
    # Back within 90 s of the end (it took about three minutes before drops were let go
    # of: the incident's failures held the estimate down long after it ended)…
    back = next(s for s in range(900, 1440, 10) if trace.share_during("a", s, s + 60) >= 0.8)
    assert back <= 900 + 90
    # …and for good.
    assert trace.share_during("a", 1020.0, 1500.0) >= 0.9


def test_a_channel_held_down_by_a_drop_is_rechecked_while_its_evidence_is_stale() -> None:
    # No exploration, no cascade and no elimination: without rechecks nothing would ever
    # try `a` first again.
    ranker = PayhubRanker(explore_cap=0.0, recheck_s=30.0, downtime=DowntimeConfig(enabled=False))
    feed(ranker, "a", 190, 10)  # 0.95, the dearer
    feed(ranker, "b", 180, 20)  # 0.90
    for n in range(20):  # `a` fails for 20 s: a drop
        ranker.observe(context(100.0 + n), "a", Result.SOFT_DECLINE, 200)

    def first(at_s: float) -> tuple[str, str]:
        ranking = ranker.rank(context(at_s), [A, B])
        return ranking.order[0], ranking.scores[ranking.order[0]].note

    assert ranker.stats(context(120.0).at)["a"].drops == ("ICBC",)
    assert first(120.0) == ("b", "")  # held down
    assert first(148.0) == ("b", "")  # its latest outcome (119 s) is 29 s old
    assert first(150.0) == ("a", "recheck")  # 31 s: stale, one recheck
    assert first(160.0)[0] == "b"  # at most one per `recheck_s`
    ranker.observe(context(151.0), "a", Result.SOFT_DECLINE, 200)  # the recheck fails
    assert first(180.5)[0] == "b"  # 30.5 s since the recheck, but fresh evidence (29.5 s)
    assert first(182.0) == ("a", "recheck")
    for n in range(3):  # it is back
        ranker.observe(context(183.0 + n), "a", Result.APPROVED, 200)
    assert ranker.stats(context(186.0).at)["a"].drops == ()  # the drop is over
    # No more rechecks; once its recent failures have faded, `a` leads on its estimate:
    # the drop's failures were taken back from the slow statistics.
    assert all(first(at_s)[1] != "recheck" for at_s in range(186, 400, 5))
    later = ranker.rank(context(400.0), [A, B])
    assert later.order[0] == "a"
    assert later.scores["a"].expected_success >= 0.93


def observe_all(
    ranker: PayhubRanker, cid: str, outcomes: str, start_s: float, step_s: float
) -> float:
    """Outcomes on `cid` ("+" approved, "-" declined), one every `step_s` from `start_s`;
    the moment after the last."""
    at_s = start_s
    for outcome in outcomes:
        result = Result.APPROVED if outcome == "+" else Result.SOFT_DECLINE
        ranker.observe(context(at_s), cid, result, 200)
        at_s += step_s
    return at_s


def test_an_approval_right_after_a_drop_opens_does_not_end_it() -> None:
    # At five payments a second the fast statistics hold a couple of hundred outcomes, so
    # three failures hardly move them: the drop's rate must not start from them, or the
    # next approval would make the drop look like no drop at all.
    ranker = PayhubRanker(explore_cap=0.0, downtime=DowntimeConfig(enabled=False))
    at_s = observe_all(ranker, "a", ("-" + "+" * 32) * 45, 0.0, 0.2)  # 97 %, five minutes
    at_s = observe_all(ranker, "a", "---", at_s, 0.2)
    assert ranker.stats(context(at_s).at)["a"].drops == ("ICBC",)
    at_s = observe_all(ranker, "a", "+", at_s, 0.2)
    assert ranker.stats(context(at_s).at)["a"].drops == ("ICBC",)


def test_a_run_of_approvals_during_a_drop_to_half_does_not_end_it() -> None:
    # Approvals at half the old rate come in runs: eight in a row is a one-in-256 event
    # there, and a long drop has many chances for one. Ending the drop on it would take the
    # drop's failures back from the slow statistics while the drop goes on.
    ranker = PayhubRanker(explore_cap=0.0, downtime=DowntimeConfig(enabled=False))
    at_s = observe_all(ranker, "a", ("-" + "+" * 32) * 45, 0.0, 0.2)  # 97 %
    at_s = observe_all(ranker, "a", "-+" * 20, at_s, 2.0)  # then half of that
    assert ranker.stats(context(at_s).at)["a"].drops == ("ICBC",)
    at_s = observe_all(ranker, "a", "+" * 8, at_s, 2.0)
    assert ranker.stats(context(at_s).at)["a"].drops == ("ICBC",)
    # Back at the old rate for good, it ends.
    at_s = observe_all(ranker, "a", "+" * 40, at_s, 2.0)
    assert ranker.stats(context(at_s).at)["a"].drops == ()


def test_without_a_drop_nothing_is_rechecked() -> None:
    # A worse channel that is never tried first stays untried: rechecks are for drops only,
    # exploration (here off) is for the rest.
    ranker = PayhubRanker(explore_cap=0.0)
    trace = play(ranker, [A, B], fixed({"a": 0.80, "b": 0.95}), 600, per_second=0.5)
    assert "recheck" not in trace.notes
    assert trace.share("b", 50) == 1.0


# -- downtime detection: timing ----------------------------------------------------------


def fail_until_eliminated(ranker: PayhubRanker, channel_id: str, at_s: float) -> int:
    """Soft declines on the channel at `at_s` until it is eliminated; how many it took."""
    ctx = context(at_s)
    for n in range(1, 100):
        ranker.observe(ctx, channel_id, Result.SOFT_DECLINE, 200)
        if not ranker.available(channel_id, ctx.at):
            return n
    raise AssertionError("never eliminated")


def test_elimination_cool_off_and_probe_back_timing() -> None:
    cfg = DowntimeConfig(cool_off_s=30.0, max_cool_off_s=120.0, probe_interval_s=10.0)
    ranker = PayhubRanker(downtime=cfg, explore_cap=0.0)
    feed(ranker, "a", 475, 25, at_s=0.0)
    feed(ranker, "b", 450, 50, at_s=0.0)
    failures = fail_until_eliminated(ranker, "a", 100.0)
    assert failures <= 10  # a long-run 0.95 channel: a short streak is enough

    def available(at_s: float) -> bool:
        return ranker.available("a", context(at_s).at)

    assert not available(129.9)
    assert available(130.0)  # the cool-off is over: a probe is due
    probe = ranker.rank(context(130.0), [A, B])
    assert probe.order[0] == "a" and probe.scores["a"].note == "probe"
    assert ranker.rank(context(135.0), [A, B]).scores["a"].note != "probe"  # one per interval
    ranker.observe(context(131.0), "a", Result.SOFT_DECLINE, 200)  # the probe fails…
    assert not available(190.9)  # …so twice the cool-off
    assert available(191.0)
    ranker.observe(context(191.0), "a", Result.ERROR, 0)  # fails again: 120 s (the bound)
    assert not available(310.9)
    assert available(311.0)
    ranker.observe(context(311.0), "a", Result.UNKNOWN, 3000)  # 240 s would exceed the bound
    assert not available(430.9)
    assert available(431.0)
    ranker.observe(context(431.0), "a", Result.APPROVED, 200)  # the probe succeeds
    assert ranker.stats(context(431.0).at)["a"].state is HealthState.HEALTHY
    assert ranker.stats()["a"].cool_off_s == 30.0  # restored
    again = fail_until_eliminated(ranker, "a", 500.0)
    assert again <= 10
    assert not ranker.available("a", context(529.9).at)
    assert ranker.available("a", context(530.0).at)


def test_nothing_else_goes_to_a_channel_while_its_probe_is_out() -> None:
    cfg = DowntimeConfig(cool_off_s=30.0, probe_interval_s=10.0)
    ranker = PayhubRanker(downtime=cfg, explore_cap=0.0)
    feed(ranker, "a", 475, 25)
    feed(ranker, "b", 450, 50)
    fail_until_eliminated(ranker, "a", 100.0)

    def available(at_s: float) -> bool:
        return ranker.available("a", context(at_s).at)

    assert available(130.0)  # back from the cool-off: a probe is due
    assert ranker.rank(context(130.0), [A, B]).scores["a"].note == "probe"
    # Until its answer, or the probe interval, the probe is all the channel gets: were it
    # still down (say hanging), every payment sent meanwhile would wait out its timeout.
    assert not available(130.5)
    assert not available(139.9)
    assert ranker.stats(context(135.0).at)["a"].state is HealthState.DEGRADED
    assert available(140.0)  # no answer within the interval: another probe is due
    ranker.observe(context(141.0), "a", Result.APPROVED, 200)
    assert available(141.0)
    assert ranker.stats(context(141.0).at)["a"].state is HealthState.HEALTHY


def out(ranker: PayhubRanker, cid: str, at_s: float) -> bool:
    """Eliminated (in its cool-off)."""
    return ranker.stats(context(at_s).at)[cid].state is HealthState.ELIMINATED


def hang_until_eliminated(ranker: PayhubRanker, cid: str, start_s: float) -> float:
    """Timeouts on `cid` from `start_s` until it is eliminated; the moment it was."""
    for n in range(1, 40):
        at_s = start_s + n * 0.1
        ranker.observe(context(at_s), cid, Result.UNKNOWN, 3000)
        if out(ranker, cid, at_s):
            return at_s
    raise AssertionError(f"{cid} was never eliminated")


def test_a_channel_out_for_hanging_is_a_last_resort_until_it_answers() -> None:
    # Out for hanging, a channel is not probed first: it stays a candidate, after every
    # other, through its cool-off and until an answer. Its first answer after the cool-off
    # brings it back, even a decline: the decline is the issuer's or the channel's ordinary
    # business, not the hang.
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 475, 25)
    feed(ranker, "b", 450, 50)
    eliminated_at = hang_until_eliminated(ranker, "a", 100.0)
    during = ranker.rank(context(eliminated_at + 1.0), [A, B])
    assert ranker.available("a", context(eliminated_at + 1.0).at)
    assert during.order == ["b", "a"] and during.last_resort == {"a"}
    assert during.scores["a"].note == "last resort"
    snapshot = ranker.stats(context(eliminated_at + 1.0).at)["a"]
    assert snapshot.state is HealthState.ELIMINATED and not snapshot.available
    # A hang during the cool-off is no news; after it, the channel is still last, not probed.
    ranker.observe(context(eliminated_at + 5.0), "a", Result.UNKNOWN, 3000)
    after = eliminated_at + 30.0
    ranking = ranker.rank(context(after), [A, B])
    assert ranking.order == ["b", "a"] and ranking.scores["a"].note == "last resort"
    assert ranker.rank(context(after + 0.1), [A, B]).order[-1] == "a"  # no probe out to wait on
    ranker.observe(context(after + 0.2), "a", Result.SOFT_DECLINE, 200)
    assert not out(ranker, "a", after + 0.2)
    assert ranker.rank(context(after + 0.3), [A, B]).last_resort == frozenset()
    # An error is no answer: the channel still does not process requests. It is out for
    # the same cool-off again, not twice it: a last-resort attempt costs no payment, so
    # the channel can be retried as often.
    erring = PayhubRanker(explore_cap=0.0)
    feed(erring, "a", 475, 25)
    feed(erring, "b", 450, 50)
    after = hang_until_eliminated(erring, "a", 100.0) + 30.0
    erring.observe(context(after + 0.2), "a", Result.ERROR, 0)
    assert out(erring, "a", after + 30.1)
    assert not out(erring, "a", after + 30.2)
    assert erring.stats(context(after + 30.2).at)["a"].cool_off_s == 30.0
    assert erring.rank(context(after + 30.2), [A, B]).order == ["b", "a"]
    # Taken out for declining, a declined probe keeps it out (twice the cool-off).
    other = PayhubRanker(explore_cap=0.0)
    feed(other, "a", 475, 25)
    feed(other, "b", 450, 50)
    fail_until_eliminated(other, "a", 100.0)
    other.rank(context(130.0), [A, B])
    other.observe(context(130.2), "a", Result.SOFT_DECLINE, 200)
    assert not other.available("a", context(131.0).at)
    assert other.available("a", context(190.2).at)


def test_a_hard_decline_during_probing_decides_nothing() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    feed(ranker, "a", 475, 25)
    feed(ranker, "b", 475, 25)
    fail_until_eliminated(ranker, "a", 10.0)
    ranker.observe(context(40.0), "a", Result.HARD_DECLINE, 200)
    assert ranker.health.probing("a", context(40.0).at.timestamp())


def test_an_occasional_failure_does_not_eliminate() -> None:
    ranker = PayhubRanker()
    ranker.rank(context(0.0), [A, B])
    rng = random.Random(3)
    for n in range(20_000):
        ok = rng.random() < 0.9
        ranker.observe(context(n * 0.2), "a", Result.APPROVED if ok else Result.SOFT_DECLINE, 200)
        assert ranker.available("a", context(n * 0.2).at)


def test_the_last_channel_for_an_issuer_is_never_eliminated() -> None:
    ranker = PayhubRanker()
    only = channel("only", issuers=frozenset({"RURAL12"}))
    ctx = context(0.0, issuer="RURAL12")
    ranker.rank(ctx, [only])
    for _ in range(200):
        ranker.observe(ctx, "only", Result.APPROVED, 200)
    for _ in range(100):
        ranker.observe(ctx, "only", Result.SOFT_DECLINE, 200)
    assert ranker.available("only", ctx.at)
    assert ranker.stats()["only"].state is HealthState.DEGRADED


def test_an_issuer_outage_leaves_it_a_channel() -> None:
    # Every channel fails for one issuer that is all their traffic: at most one may go.
    ranker = PayhubRanker()
    ctx = context(0.0, issuer="CCB")
    ranker.rank(ctx, [A, B])
    feed(ranker, "a", 190, 10, issuer="CCB")
    feed(ranker, "b", 190, 10, issuer="CCB")
    for _ in range(100):
        ranker.observe(ctx, "a", Result.SOFT_DECLINE, 200)
        ranker.observe(ctx, "b", Result.SOFT_DECLINE, 200)
    assert ranker.available("a", ctx.at) or ranker.available("b", ctx.at)


def test_detection_can_be_turned_off() -> None:
    ranker = PayhubRanker(downtime=DowntimeConfig(enabled=False))
    ranker.rank(context(0.0), [A, B])
    feed(ranker, "a", 200, 0)
    for _ in range(100):
        ranker.observe(context(0.0), "a", Result.SOFT_DECLINE, 200)
    assert ranker.available("a", context(0.0).at)


# -- reporting ----------------------------------------------------------------------------


def test_snapshot_reports_channels_and_segments() -> None:
    ranker = PayhubRanker()
    ctx = context(0.0, issuer="ICBC", card_type=CardType.CREDIT)
    for n in range(100):
        ranker.observe(ctx, "a", Result.APPROVED if n % 10 else Result.SOFT_DECLINE, 100 + n)
    ranker.observe(ctx, "a", Result.HARD_DECLINE, 500)
    stats = ranker.stats()["a"]
    assert stats.state is HealthState.HEALTHY and stats.available
    assert stats.success_rate == pytest.approx(0.9)
    assert stats.volume_raw == 100  # the hard decline is not the channel's outcome
    assert stats.volume == pytest.approx(100.0)
    assert stats.latency_p50_ms is not None and 140 <= stats.latency_p50_ms <= 160
    assert stats.latency_p90_ms is not None and 180 <= stats.latency_p90_ms <= 200
    assert [s.segment for s in stats.segments] == ["ICBC", "ICBC/credit", "credit"]
    assert all(s.volume_raw == 100 for s in stats.segments)

    later = ranker.stats(context(300.0).at)["a"]  # one half-life later
    assert later.volume == pytest.approx(50.0)
    assert later.volume_raw == 100

    data = ranker.snapshot()["a"]
    assert data["state"] == "healthy"
    assert data["segments"][0]["segment"] == "ICBC"
    assert set(data) >= {"success_rate", "volume", "volume_raw", "latency_p50_ms", "latency_p90_ms"}


def test_snapshot_shows_an_eliminated_channel() -> None:
    ranker = PayhubRanker()
    ranker.rank(context(0.0), [A, B])
    feed(ranker, "a", 200, 0)
    fail_until_eliminated(ranker, "a", 10.0)
    snap = ranker.stats(context(20.0).at)["a"]
    assert snap.state is HealthState.ELIMINATED and not snap.available
    assert snap.eliminations == 1
    assert snap.eliminated_until == context(40.0).at
    probing = ranker.stats(context(40.0).at)["a"]
    assert probing.probing and probing.available and probing.state is HealthState.DEGRADED
    assert (
        ranker.snapshot(context(20.0).at)["a"]["eliminated_until"] == context(40.0).at.isoformat()
    )


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError):
        PayhubRanker(prior_success=1.0)
    with pytest.raises(ValueError):
        PayhubRanker(explore_cap=1.5)
    with pytest.raises(ValueError):
        PayhubRanker(half_life_s=0.0)
    with pytest.raises(ValueError):
        DowntimeConfig(cool_off_s=60.0, max_cool_off_s=30.0)


def test_a_channel_that_still_answers_is_demoted_not_eliminated() -> None:
    # Half its approvals gone but answering fast: still worth trying after another failed.
    ranker = PayhubRanker(explore_cap=0.0)
    ranker.rank(context(0.0), [A, B])
    feed(ranker, "a", 950, 50)
    feed(ranker, "b", 900, 100)
    rng = random.Random(5)
    for n in range(300):
        ok = rng.random() < 0.5
        at = context(n * 0.5)
        ranker.observe(at, "a", Result.APPROVED if ok else Result.SOFT_DECLINE, 200)
        assert ranker.available("a", at.at)
    assert ranker.rank(context(150.0), [A, B]).order == ["b", "a"]


def test_a_channel_that_hangs_is_eliminated() -> None:
    ranker = PayhubRanker(explore_cap=0.0)
    ranker.rank(context(0.0), [A, B])
    feed(ranker, "a", 950, 50)
    feed(ranker, "b", 900, 100)
    for n in range(1, 40):
        result = Result.UNKNOWN if n % 2 else Result.APPROVED  # half the requests hang
        ranker.observe(context(n * 0.5), "a", result, 3000)
        if out(ranker, "a", n * 0.5):
            break
    assert n <= 20
    assert out(ranker, "a", n * 0.5)
    # It is still tried, after `b`: a payment `b` declines has nowhere else to go.
    assert ranker.rank(context(n * 0.5), [A, B]).order == ["b", "a"]
