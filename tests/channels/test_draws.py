"""Determinism, the latency and success distributions, incidents, hard declines, the oracle."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest

from payhub.channels.base import CardType, luhn_valid
from payhub.channels.sim.draws import (
    HARD_REASONS,
    Delivery,
    Draws,
    World,
    lognormal_ms,
    oracle,
    pick,
)
from payhub.channels.sim.scenario import Scenario
from payhub.channels.sim.workload import generate_payments

N = 20_000
KEYS = [f"p{i:07d}" for i in range(N)]


def _reseeded(scenario: Scenario, seed: int) -> Scenario:
    return scenario.model_copy(update={"seed": seed})


def _rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


# -- draws ---------------------------------------------------------------------------------


def test_draws_are_a_pure_function_of_seed_and_key() -> None:
    a, b, c = Draws(7), Draws(7), Draws(8)
    first = [a.uniform("success", k, "alpha") for k in KEYS[:1000]]
    assert first == [b.uniform("success", k, "alpha") for k in KEYS[:1000]]
    assert first != [c.uniform("success", k, "alpha") for k in KEYS[:1000]]
    # Order of calls does not matter.
    assert [a.uniform("success", k, "alpha") for k in reversed(KEYS[:1000])] == first[::-1]
    # Key parts are length-prefixed: ("ab", "c") is not ("a", "bc").
    assert a.uniform("s", "ab", "c") != a.uniform("s", "a", "bc")
    assert a.token("x") == b.token("x") and len(a.token("x")) == 20


def test_draws_are_uniform_and_streams_independent() -> None:
    draws = Draws(7)
    xs = [draws.uniform("success", k, "alpha") for k in KEYS]
    ys = [draws.uniform("latency", k, "alpha") for k in KEYS]
    assert all(0.0 < x < 1.0 for x in xs)
    assert abs(statistics.fmean(xs) - 0.5) < 0.01
    assert abs(statistics.pvariance(xs) - 1 / 12) < 0.003
    deciles = Counter(int(x * 10) for x in xs)
    assert all(abs(deciles[d] / N - 0.1) < 0.01 for d in range(10))
    assert abs(statistics.correlation(xs, ys)) < 0.03
    zs = [draws.uniform("success", k, "beta") for k in KEYS]
    assert abs(statistics.correlation(xs, zs)) < 0.03


def test_pick_follows_the_weights() -> None:
    draws = Draws(1)
    picked = Counter(pick(draws.uniform("r", k), HARD_REASONS) for k in KEYS)
    for code, weight in HARD_REASONS:
        assert abs(picked[code] / N - weight) < 0.015, code


# -- latency -------------------------------------------------------------------------------


def test_lognormal_fit_hits_median_and_p99_exactly() -> None:
    assert lognormal_ms(0.5, 300, 1500) == pytest.approx(300)
    assert lognormal_ms(0.99, 300, 1500) == pytest.approx(1500)
    assert lognormal_ms(0.5, 80, 80) == pytest.approx(80)


@pytest.mark.parametrize("channel_id", ["partner_bank", "unionpay_quick", "netsunion"])
def test_latency_distribution_matches_median_and_p99(
    default_scenario: Scenario, channel_id: str
) -> None:
    world = World(default_scenario)
    spec = default_scenario.channel(channel_id).latency_ms
    samples = sorted(world.latency_ms(channel_id, k, "authorize", 0) for k in KEYS)
    median, p99 = samples[N // 2], samples[int(N * 0.99)]
    assert median == pytest.approx(spec.median, rel=0.05)
    assert p99 == pytest.approx(spec.p99, rel=0.15)
    # Log-normal: the logs are normal with sigma fitted from median and p99.
    logs = [math.log(s) for s in samples]
    assert statistics.stdev(logs) == pytest.approx(spec.sigma, rel=0.05)


def test_reported_latency_is_what_the_caller_waits(default_scenario: Scenario) -> None:
    world = World(default_scenario)
    for key in KEYS[:2000]:
        outcome = world.authorize(
            key, "unionpay_quick", issuer="CCB", card_type=CardType.DEBIT, amount=3500, at_s=10
        )
        if outcome.delivery is Delivery.TIMEOUT:
            assert outcome.latency_ms == 5000
        else:
            assert 1 <= outcome.latency_ms <= 5000


# -- success rates, incidents, hard declines -----------------------------------------------


def _approvals(world: World, channel_id: str, issuer: str, at_s: float) -> list[bool]:
    """Decisions for payments the issuer would approve (hard declines left out)."""
    flags = []
    for key in KEYS:
        if world.hard_decline(key) is not None:
            continue
        outcome = world.authorize(
            key, channel_id, issuer=issuer, card_type=CardType.DEBIT, amount=3500, at_s=at_s
        )
        flags.append(outcome.approved)
    return flags


@pytest.mark.parametrize(
    ("channel_id", "issuer"),
    [
        ("partner_bank", "PARTNER"),
        ("unionpay_quick", "CCB"),
        ("unionpay_quick", "CITYBANK7"),
        ("unionpay_quick", "RURAL12"),
        ("netsunion", "BOC"),
        ("netsunion", "CITYBANK7"),
        ("icbc_direct", "ICBC"),
    ],
)
def test_success_rates_match_the_scenario(
    default_scenario: Scenario, channel_id: str, issuer: str
) -> None:
    world = World(default_scenario)
    expected = default_scenario.channel(channel_id).success.for_issuer(issuer)
    observed = _rate(_approvals(world, channel_id, issuer, at_s=100.0))
    sigma = math.sqrt(expected * (1 - expected) / N)
    assert abs(observed - expected) < max(5 * sigma, 0.004), (observed, expected)


def test_an_incident_changes_the_rate_only_inside_its_window(default_scenario: Scenario) -> None:
    # unionpay_quick × 0.3 during [1200, 1500).
    world = World(default_scenario)
    base = default_scenario.channel("unionpay_quick").success.default
    assert world.success_probability("unionpay_quick", "CCB", 1199.9) == base
    assert world.success_probability("unionpay_quick", "CCB", 1200.0) == pytest.approx(base * 0.3)
    assert world.success_probability("unionpay_quick", "CCB", 1500.0) == base
    before = _rate(_approvals(world, "unionpay_quick", "CCB", 1199.0))
    during = _rate(_approvals(world, "unionpay_quick", "CCB", 1300.0))
    after = _rate(_approvals(world, "unionpay_quick", "CCB", 1500.0))
    assert before == pytest.approx(base, abs=0.01)
    assert after == pytest.approx(base, abs=0.01)
    assert during == pytest.approx(base * 0.3, abs=0.015)
    # Other channels do not notice.
    assert _rate(_approvals(world, "netsunion", "CCB", 1300.0)) == pytest.approx(0.95, abs=0.01)


def test_a_timeout_incident_hits_its_issuer_only(default_scenario: Scenario) -> None:
    # unionpay_quick × ICBC: timeout_rate 0.5 during [2000, 2300).
    world = World(default_scenario)

    def timeouts(issuer: str, at_s: float) -> float:
        return _rate(
            [
                world.authorize(
                    k, "unionpay_quick", issuer=issuer, card_type=CardType.DEBIT, amount=3500,
                    at_s=at_s,
                ).delivery
                is Delivery.TIMEOUT
                for k in KEYS[:10_000]
            ]
        )  # fmt: skip

    assert timeouts("ICBC", 2100) == pytest.approx(0.5, abs=0.02)
    assert timeouts("CCB", 2100) < 0.002
    assert timeouts("ICBC", 1999) < 0.002
    assert timeouts("ICBC", 2300) < 0.002


def test_a_lost_incident_loses_responses(default_scenario: Scenario) -> None:
    # netsunion: lost_rate 0.05 during [2700, 2900), on top of its own 0.001 for approvals.
    world = World(default_scenario)

    def lost(at_s: float) -> float:
        outcomes = [
            world.authorize(
                k, "netsunion", issuer="CCB", card_type=CardType.DEBIT, amount=3500, at_s=at_s
            )
            for k in KEYS
        ]
        assert all(o.processed for o in outcomes if o.delivery is Delivery.LOST)
        return _rate([o.delivery is Delivery.LOST for o in outcomes])

    assert lost(2800) == pytest.approx(0.05, abs=0.006)
    assert lost(100) < 0.003


def test_hard_declines_are_drawn_once_per_payment(default_scenario: Scenario) -> None:
    world = World(default_scenario)
    codes = [world.hard_decline(k) for k in KEYS]
    declined = [c for c in codes if c is not None]
    assert len(declined) / N == pytest.approx(default_scenario.hard_decline_rate, abs=0.003)
    assert set(declined) == {"51", "54", "14", "41", "43"}
    assert Counter(declined).most_common(1)[0][0] == "51"
    # The same answer on every channel that serves the card, whatever the time.
    for key, code in zip(KEYS, codes, strict=True):
        if code is None:
            continue
        for channel_id, issuer in [
            ("unionpay_quick", "ICBC"),
            ("netsunion", "ICBC"),
            ("icbc_direct", "ICBC"),
        ]:
            for at_s in (100.0, 1300.0):
                outcome = world.authorize(
                    key, channel_id, issuer=issuer, card_type=CardType.DEBIT, amount=3500,
                    at_s=at_s,
                )  # fmt: skip
                assert (outcome.approved, outcome.raw_code) == (False, code)


def test_refusals_come_before_everything(default_scenario: Scenario) -> None:
    world = World(default_scenario)
    outcome = world.authorize(
        "p1", "partner_bank", issuer="ICBC", card_type=CardType.DEBIT, amount=100, at_s=1
    )
    assert outcome.raw_code == "58"
    outcome = world.authorize(
        "p1", "netsunion", issuer="ICBC", card_type=CardType.DEBIT, amount=2_000_001, at_s=1
    )
    assert outcome.raw_code == "61"


# -- determinism of whole outcomes and of the workload -------------------------------------


def _outcomes(scenario: Scenario) -> list[tuple[object, ...]]:
    world = World(scenario)
    out: list[tuple[object, ...]] = []
    for p in generate_payments(scenario, 2000):
        for channel_id, o in world.oracle_outcomes(
            p.key, p.issuer, p.card_type, p.amount, p.at_s
        ).items():
            out.append((p.key, channel_id, o.raw_code, o.delivery, o.latency_ms, o.processed))
    return out


def test_same_seed_same_world_different_seed_different_world(default_scenario: Scenario) -> None:
    first = _outcomes(default_scenario)
    assert first == _outcomes(default_scenario)
    other = _outcomes(_reseeded(default_scenario, 8))
    assert other != first


def test_the_workload_follows_the_scenario(default_scenario: Scenario) -> None:
    payments = generate_payments(default_scenario)
    assert len(payments) == default_scenario.payments
    assert payments == generate_payments(default_scenario)
    assert payments[:100] != generate_payments(_reseeded(default_scenario, 8), 100)
    assert [p.at_s for p in payments] == sorted(p.at_s for p in payments)
    assert payments[0].at_s >= 0 and payments[-1].at_s < default_scenario.duration_s
    assert len({p.key for p in payments}) == N
    shares = Counter(p.issuer for p in payments)
    for issuer in default_scenario.issuers:
        assert shares[issuer.code] / N == pytest.approx(issuer.share, abs=0.01), issuer.code
    partner = [p for p in payments if p.issuer == "PARTNER"]
    credit = _rate([p.card_type is CardType.CREDIT for p in partner])
    assert credit == pytest.approx(0.20, abs=0.025)
    median = statistics.median(p.amount for p in payments)
    assert median == pytest.approx(default_scenario.amount.median_minor, rel=0.05)
    assert all(luhn_valid(p.card.pan) and p.card.issuer_code == p.issuer for p in payments[:500])
    request = payments[0].authorize_request("req_x")
    assert request.reference == payments[0].key and request.amount == payments[0].amount


# -- the oracle ----------------------------------------------------------------------------


def test_the_oracle_beats_every_single_channel(default_scenario: Scenario) -> None:
    world = World(default_scenario)
    payments = generate_payments(default_scenario)
    per_channel: Counter[str] = Counter()
    oracle_wins = 0
    for p in payments:
        outcomes = world.oracle_outcomes(p.key, p.issuer, p.card_type, p.amount, p.at_s)
        best = world.oracle(p.key, p.issuer, p.card_type, p.amount, p.at_s)
        assert best == oracle(world, p.key, p.issuer, p.card_type, p.amount, p.at_s)
        wins = {cid for cid, o in outcomes.items() if o.succeeded}
        per_channel.update(wins)
        if best is None:
            assert not wins
            continue
        oracle_wins += 1
        assert best in wins
        # The cheapest of the channels that would have worked.
        fee = world.info(best).fee(p.amount, p.card_type)
        assert all(fee <= world.info(c).fee(p.amount, p.card_type) for c in wins)
    oracle_rate = oracle_wins / N
    rates = {cid: per_channel[cid] / N for cid in default_scenario.channel_ids}
    assert all(oracle_rate >= rate for rate in rates.values()), (oracle_rate, rates)
    # Nothing beats a hard decline, and every channel alone does clearly worse.
    assert 1 - default_scenario.hard_decline_rate - 0.01 < oracle_rate < 1
    assert max(rates.values()) < oracle_rate - 0.02
