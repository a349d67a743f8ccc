"""`payhub bench routing`: the replay is fair (same draws for every strategy), the safety
figures come from the simulator's own record, the cascade stops where it must, and the
figures have the documented shape. A small synthetic scenario keeps it fast."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from payhub.bench import routing as bench
from payhub.bench.routing import (
    METRICS,
    Setup,
    StrategyRun,
    StrategySpec,
    StrategyUnavailableError,
    cascading_router,
    find_scenario,
    gap_capture,
    replay,
    report,
    resolve_strategies,
    run_scenario,
    shipped_scenarios,
    static_router,
    strategy_router,
)
from payhub.channels.base import ChannelInfo
from payhub.channels.sim.scenario import Scenario, scenario_from_data
from payhub.channels.sim.workload import generate_payments
from payhub.routing.base import Context, Ranking, Result, Score
from payhub.routing.engine import Decision, Router
from tests.conftest import POSTGRES
from tests.processes import run_payhub

PAYMENTS = 300


def _world(**changes: Any) -> dict[str, Any]:
    """Two channels for every issuer plus the partner bank's; answers get lost and requests
    hang on `alpha` for a while, and the issuer hard-declines 5 % of payments."""
    data: dict[str, Any] = {
        "name": "tiny",
        "seed": 11,
        "duration_s": 120,
        "payments": PAYMENTS,
        "currency": "CNY",
        "start_at": "2026-11-25T02:00:00Z",
        "amount": {"median_minor": 3000, "sigma": 0.5},
        "hard_decline_rate": 0.05,
        "issuers": [
            {"code": "PARTNER", "share": 0.2},
            {"code": "ICBC", "share": 0.5, "credit_share": 0.3},
            {"code": "CITYBANK7", "share": 0.3},
        ],
        "channels": [
            {
                "id": "partner_bank",
                "issuers": ["PARTNER"],
                "fee_bps": {"debit": 20, "credit": 45},
                "latency_ms": {"median": 80, "p99": 300},
                "timeout_ms": 3000,
                "success": {"default": 0.99},
            },
            {
                "id": "alpha",
                "issuers": "*",
                "fee_bps": {"debit": 35, "credit": 60},
                "latency_ms": {"median": 300, "p99": 1500},
                "timeout_ms": 2000,
                "success": {"default": 0.8, "by_issuer": {"CITYBANK7": 0.7}},
                "lost_rate": 0.05,
            },
            {
                "id": "beta",
                "issuers": "*",
                "fee_bps": {"debit": 25, "credit": 50},
                "latency_ms": {"median": 200, "p99": 900},
                "timeout_ms": 2000,
                "success": {"default": 0.9},
                "lost_rate": 0.02,
            },
        ],
        "incidents": [{"channel": "alpha", "start_s": 30, "end_s": 60, "timeout_rate": 0.3}],
    }
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return scenario_from_data(_world())


class CheapestFirst:
    """A stand-in strategy for these tests: the cheapest channel first, nothing learnt."""

    name = "cheapest"

    def __init__(self) -> None:
        self.observed: list[tuple[datetime, str, Result]] = []

    def rank(self, ctx: Context, candidates: Sequence[ChannelInfo]) -> Ranking:
        ordered = sorted(candidates, key=lambda c: (c.fee(ctx.amount, ctx.card_type), c.channel_id))
        return Ranking(
            [c.channel_id for c in ordered],
            {c.channel_id: Score(c.channel_id, 0.5) for c in ordered},
            "cheapest first",
        )

    def observe(self, ctx: Context, channel_id: str, result: Result, latency_ms: int) -> None:
        self.observed.append((ctx.at, channel_id, result))

    def available(self, channel_id: str, at: datetime) -> bool:
        return True


def cheapest_router(setup: Setup) -> Router:
    return cascading_router(CheapestFirst())


class RecklessRouter(Router):
    """A broken engine that cascades after an unknown outcome as if it were a soft decline:
    what the double-charge figure exists to catch."""

    def next_channel(
        self,
        decision: Decision,
        tried: Sequence[str],
        last: Result,
        elapsed_ms: float,
        channels: Any,
    ) -> str | None:
        if last is Result.UNKNOWN:
            last = Result.SOFT_DECLINE
        return super().next_channel(decision, tried, last, elapsed_ms, channels)


def test_static_twice_gives_identical_figures(tiny: Scenario) -> None:
    first = replay(tiny, static_router)
    second = replay(tiny, static_router)
    assert first.metrics() == second.metrics()
    assert [(o.key, o.approved, o.total_ms, o.attempts) for o in first.outcomes] == [
        (o.key, o.approved, o.total_ms, o.attempts) for o in second.outcomes
    ]


def test_every_strategy_meets_the_same_draws(tiny: Scenario) -> None:
    """A payment's first try on a channel gets the same answer whichever strategy sent it."""
    static = replay(tiny, static_router, name="static")
    cheapest = replay(tiny, cheapest_router, name="cheapest")
    assert [o.key for o in static.outcomes] == [o.key for o in cheapest.outcomes]
    same_channel = 0
    for a, b in zip(static.outcomes, cheapest.outcomes, strict=True):
        if a.attempts and b.attempts and a.attempts[0].channel_id == b.attempts[0].channel_id:
            same_channel += 1
            assert a.attempts[0].result is b.attempts[0].result, a.key
            assert a.attempts[0].latency_ms == b.attempts[0].latency_ms, a.key
        # The issuer's hard decline is the payment's, on any channel.
        hard_a = any(t.result is Result.HARD_DECLINE for t in a.attempts)
        hard_b = any(t.result is Result.HARD_DECLINE for t in b.attempts)
        assert hard_a == hard_b, a.key
    assert same_channel > 20  # the partner's cards go to partner_bank under both


def test_the_cascade_stops_after_unknown_and_hard_declines(tiny: Scenario) -> None:
    run = replay(tiny, cheapest_router, name="cheapest")
    stops = {Result.UNKNOWN: 0, Result.HARD_DECLINE: 0}
    cascaded = 0
    for outcome in run.outcomes:
        results = [a.result for a in outcome.attempts]
        for n, result in enumerate(results):
            if result in stops:
                stops[result] += 1
                assert n == len(results) - 1, (outcome.key, results)
        cascaded += len(results) > 1
    # The scenario makes all three happen.
    assert stops[Result.UNKNOWN] > 0
    assert stops[Result.HARD_DECLINE] > 0
    assert cascaded > 0
    # The figure counts every attempt sent, cascades included.
    sent = sum(len(o.attempts) for o in run.outcomes)
    assert run.metrics()["attempts_per_payment"] == round(sent / PAYMENTS, 4)
    static = replay(tiny, static_router)
    assert all(len(o.attempts) <= 1 for o in static.outcomes)
    assert static.metrics()["attempts_per_payment"] == round(
        sum(len(o.attempts) for o in static.outcomes) / PAYMENTS, 4
    )


def test_unknown_outcomes_are_resolved_by_query(tiny: Scenario) -> None:
    run = replay(tiny, cheapest_router)
    resolved = [o for o in run.outcomes if o.queries]
    assert resolved
    for outcome in resolved:
        assert outcome.attempts[-1].result is Result.UNKNOWN
        if outcome.by_query:
            assert outcome.approved
            # The query's time counts too.
            assert outcome.total_ms > sum(a.latency_ms for a in outcome.attempts)
            assert outcome.within_1s == (outcome.total_ms < 1000)
    assert any(o.by_query for o in resolved)


def test_the_strategy_learns_in_time_order(tiny: Scenario) -> None:
    ranker = CheapestFirst()
    run = replay(tiny, lambda setup: cascading_router(ranker))
    assert len(ranker.observed) == sum(len(o.attempts) for o in run.outcomes)
    moments = [at for at, _, _ in ranker.observed]
    assert moments == sorted(moments)


def test_double_charges_come_from_the_simulators_record() -> None:
    lossy = scenario_from_data(
        _world(
            channels=[
                {
                    "id": "alpha",
                    "issuers": "*",
                    "fee_bps": {"debit": 20, "credit": 40},
                    "latency_ms": {"median": 150, "p99": 400},
                    "timeout_ms": 2000,
                    "success": {"default": 0.95},
                    "lost_rate": 0.3,
                },
                {
                    "id": "beta",
                    "issuers": "*",
                    "fee_bps": {"debit": 30, "credit": 50},
                    "latency_ms": {"median": 150, "p99": 400},
                    "timeout_ms": 2000,
                    "success": {"default": 0.95},
                },
            ],
            incidents=[],
            issuers=[{"code": "ICBC", "share": 1.0}],
        )
    )
    safe = replay(lossy, cheapest_router)
    assert safe.metrics()["double_charges"] == 0

    reckless = replay(
        lossy, lambda setup: RecklessRouter(CheapestFirst(), budget_ms=1000, cascade=True)
    )
    twice = [
        o.key
        for o in reckless.outcomes
        if len(reckless.network.authorizations(payment_id=o.key)) > 1
    ]
    assert twice  # lost approvals followed by a second channel's approval
    assert reckless.metrics()["double_charges"] == len(twice)
    # The router believed each of these payments approved once.
    assert all(
        sum(a.result is Result.APPROVED for a in o.attempts) == 1
        for o in reckless.outcomes
        if o.key in twice
    )


def test_the_figures_have_the_documented_shape(tiny: Scenario) -> None:
    figures, runs = run_scenario(
        tiny, {"static": static_router, "cheapest": cheapest_router}, count=120
    )
    assert set(figures) == {"scenario", "payments", "strategies", "oracle_gap_capture"}
    assert figures["scenario"] == "tiny"
    assert figures["payments"] == 120
    assert list(figures["strategies"]) == ["static", "cheapest"]
    for metrics in figures["strategies"].values():
        assert tuple(metrics) == METRICS
        assert 0.0 <= metrics["success_rate"] <= 1.0
        assert metrics["first_attempt_success_rate"] <= metrics["success_rate"]
        assert metrics["within_1s_share"] <= metrics["success_rate"]
        assert metrics["double_charges"] == 0
    # payhub and oracle did not run: no gap to capture.
    assert figures["oracle_gap_capture"] is None
    assert json.loads(json.dumps(figures)) == figures
    assert all(isinstance(run, StrategyRun) for run in runs.values())


def test_fees_are_what_the_approving_channel_charges(tiny: Scenario) -> None:
    run = replay(tiny, cheapest_router)
    infos = {cid: tiny.info(cid) for cid in tiny.channel_ids}
    approved = [o for o in run.outcomes if o.approved]
    fees = sum(infos[o.channel_id or ""].fee(o.amount, o.card_type) for o in approved)
    amount = sum(o.amount for o in approved)
    assert run.metrics()["fee_bps"] == round(fees / amount * 10_000, 2)


def test_oracle_gap_capture() -> None:
    def rates(**success: float) -> dict[str, dict[str, float]]:
        return {name: {"success_rate": rate} for name, rate in success.items()}

    assert gap_capture(rates(static=0.85, payhub=0.97, oracle=0.99)) == pytest.approx(
        0.12 / 0.14, abs=1e-4
    )
    assert gap_capture(rates(static=0.85, oracle=0.99)) is None
    assert gap_capture(rates(static=0.9, payhub=0.9, oracle=0.9)) is None


def test_strategies_are_found_by_name_and_missing_ones_reported() -> None:
    assert strategy_router("static") is static_router
    with pytest.raises(StrategyUnavailableError, match="unknown strategy"):
        strategy_router("nope")
    registry = {
        "later": StrategySpec("payhub.routing.not_written_yet", "Later"),
        "renamed": StrategySpec("payhub.routing.engine", "NoSuchRanker"),
    }
    found, missing = resolve_strategies(["static", "later", "renamed"], registry)
    assert list(found) == ["static"]
    assert set(missing) == {"later", "renamed"}


def test_report_of_a_replay(tiny: Scenario) -> None:
    payments = generate_payments(tiny, 50)
    run = replay(tiny, static_router, name="static", payments=payments)
    figures = report(tiny, {"static": run})
    assert figures["payments"] == 50
    assert figures["strategies"]["static"] == run.metrics()


def test_the_shipped_scenarios_load() -> None:
    shipped = shipped_scenarios()
    expected = {
        "seed-baseline",
        "outage",
        "degradation",
        "issuer-incident",
        "cost-tradeoff",
        "cold-start",
    }
    assert expected <= set(shipped)
    for name, path in shipped.items():
        scenario = find_scenario(str(path))
        assert scenario.name == name  # the JSON names its figures after the file
        assert scenario.duration_s == 3600
    assert find_scenario("default").name == "default"  # the simulator's own
    assert bench.find_scenario("seed-baseline").name == "seed-baseline"


@pytest.mark.skipif(POSTGRES, reason="no database involved; run once")
def test_the_command_writes_figures_and_a_chart(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.json"
    scenario.write_text(json.dumps(_world()), encoding="utf-8")
    out, chart = tmp_path / "out" / "tiny.json", tmp_path / "out" / "tiny.png"
    done = run_payhub(
        "bench",
        "routing",
        "--scenario",
        str(scenario),
        "--strategies",
        "static",
        "--payments",
        "100",
        "--json",
        str(out),
        "--chart",
        str(chart),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["payments"] == 100
    assert list(figures["strategies"]) == ["static"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Routing on scenario tiny" in done.stdout

    refused = run_payhub(
        "bench",
        "routing",
        "--scenario",
        "no-such-world",
        "--json",
        str(out),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "no scenario 'no-such-world'" in " ".join(refused.stderr.split())
    assert "Traceback" not in refused.stderr


@pytest.mark.skipif(POSTGRES, reason="no database involved; run once")
def test_the_command_documents_its_measurements(tmp_path: Path) -> None:
    done = run_payhub(
        "bench",
        "routing",
        "--help",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for option in ("--timing", "--no-timing", "--processes", "--fidelity"):
        assert option in text
    assert "split over N independent routers" in text
    assert "payment service and orchestrator" in text


@pytest.mark.skipif(POSTGRES, reason="a temporary SQLite database of its own; run once")
def test_the_command_adds_the_measurements_under_keys_of_their_own(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.json"
    scenario.write_text(json.dumps(_world()), encoding="utf-8")
    out = tmp_path / "tiny.json.out"
    done = run_payhub(
        "bench",
        "routing",
        "--scenario",
        str(scenario),
        "--strategies",
        "static,payhub",
        "--payments",
        "100",
        "--processes",
        "1,2",
        "--fidelity",
        "20",
        "--json",
        str(out),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    figures = json.loads(out.read_text(encoding="utf-8"))
    # The quality figures keep their keys and meaning; the measurements come beside them.
    assert {"scenario", "payments", "strategies", "oracle_gap_capture"} <= set(figures)
    assert set(figures) - {"scenario", "payments", "strategies", "oracle_gap_capture"} == {
        "timing",
        "processes",
        "fidelity",
    }
    assert list(figures["timing"]["strategies"]) == ["static", "payhub"]
    assert figures["timing"]["strategies"]["payhub"]["decide"]["n"] == 100
    assert list(figures["processes"]["by_count"]) == ["1", "2"]
    for strategy in figures["fidelity"]["strategies"].values():
        assert strategy["exercised"]["payments"] == 20
        assert strategy["payments_differing"] == 0
    assert "Cost in process" in done.stdout
    assert "Learning per process" in done.stdout
    assert "Replay against the platform" in done.stdout

    plain = run_payhub(
        "bench",
        "routing",
        "--scenario",
        str(scenario),
        "--strategies",
        "static",
        "--payments",
        "50",
        "--no-timing",
        "--json",
        str(out),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert plain.returncode == 0, plain.stderr
    assert set(json.loads(out.read_text(encoding="utf-8"))) == {
        "scenario",
        "payments",
        "strategies",
        "oracle_gap_capture",
    }

    refused = run_payhub(
        "bench",
        "routing",
        "--scenario",
        str(scenario),
        "--processes",
        "0,2",
        "--json",
        str(out),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "--processes takes positive integers" in " ".join(refused.stderr.split())


@pytest.mark.skipif(POSTGRES, reason="no database involved; run once")
def test_the_command_replays_under_several_seeds(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.json"
    scenario.write_text(json.dumps(_world()), encoding="utf-8")
    out, chart = tmp_path / "out" / "tiny.json", tmp_path / "out" / "tiny.png"
    done = run_payhub(
        "bench",
        "routing",
        "--scenario",
        str(scenario),
        "--strategies",
        "static,sr_v3,payhub,oracle",
        "--payments",
        "120",
        "--seeds",
        "2",
        "--no-timing",
        "--json",
        str(out),
        "--chart",
        str(chart),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    figures = json.loads(out.read_text(encoding="utf-8"))
    # The single-seed figures are those of the first seed: the scenario's own.
    single = bench.report(
        scenario_from_data(_world()),
        {
            name: replay(
                scenario_from_data(_world()),
                strategy_router(name),
                name=name,
                payments=generate_payments(scenario_from_data(_world()), 120),
            )
            for name in ("static", "sr_v3", "payhub", "oracle")
        },
    )
    assert figures["strategies"] == single["strategies"]
    block = figures["seeds"]
    assert block["seeds"] == [11, 12]
    assert block["payments"] == [120, 120]
    assert list(block["strategies"]) == ["static", "sr_v3", "payhub", "oracle"]
    first = round(block["strategies"]["payhub"]["approved"][0] / 120, 4)
    assert first == figures["strategies"]["payhub"]["success_rate"]
    pair = block["paired_success_rate"]["payhub-sr_v3"]
    assert pair["won"] + pair["tied"] + pair["lost"] == 2
    assert len(pair["differences"]) == 2
    assert set(block["paired_success_rate"]) == {"payhub-sr_v3"}
    assert block["oracle_gap_capture"] is None or block["oracle_gap_capture"]["n"] <= 2
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "tiny-paired.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "paired success difference" in done.stdout

    refused = run_payhub(
        "bench",
        "routing",
        "--scenario",
        str(scenario),
        "--seeds",
        "1,1",
        "--json",
        str(out),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "--seeds takes" in " ".join(refused.stderr.split())
