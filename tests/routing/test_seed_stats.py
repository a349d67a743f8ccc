"""The multi-seed statistics of the routing benchmark: means, t intervals, paired differences
and the `seeds` block built from them."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payhub.bench.routing_seeds import SeedRun, parse_seeds, seeds_block
from payhub.bench.routing_stats import mean_ci, paired, t_quantile

rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
samples = st.lists(rates, min_size=2, max_size=40)


def test_t_quantiles_match_the_tables() -> None:
    # Printed tables (two-sided 95 %), and the normal quantile far out.
    for df, expected in ((1, 12.706), (4, 2.776), (9, 2.262), (19, 2.093), (30, 2.042)):
        assert t_quantile(df) == pytest.approx(expected, abs=5e-4)
    for df, expected in ((40, 2.021), (60, 2.000), (120, 1.980)):
        assert t_quantile(df) == pytest.approx(expected, abs=5e-4)
    assert t_quantile(10**7) == pytest.approx(1.95996, abs=1e-4)
    with pytest.raises(ValueError):
        t_quantile(0)


def test_quantiles_fall_with_the_degrees_of_freedom() -> None:
    values = [t_quantile(df) for df in range(1, 200)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_a_known_interval() -> None:
    interval = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.776445105 * math.sqrt(2.5 / 5)
    assert interval.mean == 3.0
    assert interval.low == pytest.approx(3.0 - half)
    assert interval.high == pytest.approx(3.0 + half)
    assert interval.n == 5


def test_one_value_has_no_interval() -> None:
    interval = mean_ci([0.97])
    assert (interval.mean, interval.low, interval.high) == (0.97, None, None)
    assert paired([0.98], [0.97]).verdict == "n/a"
    with pytest.raises(ValueError):
        mean_ci([])


@settings(max_examples=200, deadline=None)
@given(samples)
def test_the_interval_contains_the_mean(values: list[float]) -> None:
    interval = mean_ci(values)
    assert interval.contains(interval.mean)
    assert min(values) - 1e-12 <= interval.mean <= max(values) + 1e-12


@settings(max_examples=200, deadline=None)
@given(samples)
def test_identical_strategies_differ_by_nothing(values: list[float]) -> None:
    same = paired(values, list(values))
    assert same.differences == tuple(0.0 for _ in values)
    assert (same.interval.mean, same.interval.low, same.interval.high) == (0.0, 0.0, 0.0)
    assert (same.won, same.tied, same.lost) == (0, len(values), 0)
    assert same.verdict == "level"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(rates, rates), min_size=2, max_size=40))
def test_paired_differences_add_up(pairs: list[tuple[float, float]]) -> None:
    mine, theirs = [a for a, _ in pairs], [b for _, b in pairs]
    result = paired(mine, theirs)
    assert result.won + result.tied + result.lost == len(pairs)
    assert result.interval.mean == pytest.approx(
        sum(mine) / len(mine) - sum(theirs) / len(theirs), abs=1e-12
    )
    assert result.interval.contains(result.interval.mean)
    # Swapping the sides mirrors everything.
    mirror = paired(theirs, mine)
    assert (mirror.won, mirror.tied, mirror.lost) == (result.lost, result.tied, result.won)
    assert mirror.interval.mean == pytest.approx(-result.interval.mean, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(samples, st.floats(min_value=0.001, max_value=0.5))
def test_a_constant_lead_is_ahead(values: list[float], lead: float) -> None:
    result = paired([v + lead for v in values], values)
    assert result.verdict == "ahead"
    assert result.won == len(values)
    assert result.interval.mean == pytest.approx(lead, abs=1e-9)


def test_the_verdicts() -> None:
    assert paired([0.981, 0.982, 0.983], [0.971, 0.972, 0.973]).verdict == "ahead"
    assert paired([0.971, 0.972, 0.973], [0.981, 0.982, 0.983]).verdict == "behind"
    assert paired([0.98, 0.97, 0.98], [0.97, 0.98, 0.975]).verdict == "level"
    with pytest.raises(ValueError):
        paired([0.9, 0.8], [0.9])


def test_seeds_are_a_count_or_offsets() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,5,7") == [0, 5, 7]
    assert parse_seeds("4,") == [4]
    for bad in ("0", "", "a", "-1", "1,1", "2,-3"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def _run(seed: int, approved: dict[str, int], payments: int = 1000) -> SeedRun:
    metrics: dict[str, dict[str, float | int | None]] = {
        name: {
            "success_rate": round(n / payments, 4),
            "first_attempt_success_rate": 0.9,
            "within_1s_share": 0.9,
            "fee_bps": 30.0,
            "double_charges": 0,
        }
        for name, n in approved.items()
    }
    return SeedRun(seed, payments, dict(approved), metrics)


def test_the_seeds_block() -> None:
    runs = [
        _run(7, {"static": 850, "sw_ucb": 970, "sr_v3": 972, "payhub": 975, "oracle": 980}),
        _run(8, {"static": 860, "sw_ucb": 975, "sr_v3": 976, "payhub": 976, "oracle": 981}),
        _run(9, {"static": 840, "sw_ucb": 969, "sr_v3": 973, "payhub": 972, "oracle": 979}),
    ]
    block = seeds_block(runs)
    assert block["seeds"] == [7, 8, 9]
    assert block["payments"] == [1000, 1000, 1000]
    assert block["strategies"]["payhub"]["approved"] == [975, 976, 972]
    assert block["strategies"]["payhub"]["success_rate"]["mean"] == pytest.approx(0.9743333, 1e-6)
    assert block["strategies"]["static"]["double_charges"] == 0
    # No thompson in the runs: no pair for it.
    assert set(block["paired_success_rate"]) == {"payhub-sw_ucb", "payhub-sr_v3"}
    sr = block["paired_success_rate"]["payhub-sr_v3"]
    assert (sr["won"], sr["tied"], sr["lost"]) == (1, 1, 1)
    assert sr["differences"] == pytest.approx([0.003, 0.0, -0.001])
    assert sr["verdict"] == "level"
    ucb = block["paired_success_rate"]["payhub-sw_ucb"]
    assert (ucb["won"], ucb["tied"], ucb["lost"]) == (3, 0, 0)
    capture = block["oracle_gap_capture"]
    assert capture["values"] == pytest.approx([125 / 130, 116 / 121, 132 / 139], abs=1e-6)
    assert capture["ci_low"] <= capture["mean"] <= capture["ci_high"]
