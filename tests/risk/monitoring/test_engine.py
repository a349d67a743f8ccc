"""The monitor: cool-down, revisions, configuration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payhub.risk.monitoring import ALL_TYPOLOGIES, Monitor, MonitorConfig, Transaction
from tests.risk.monitoring.factories import monitor, tx

YUAN = 100


def _burst(start_hours: float, count: int = 10) -> list[Transaction]:
    return [tx("payer", "shop", 50 * YUAN, hours=start_hours, minutes=n) for n in range(count)]


def test_a_repeat_within_the_cool_down_revises_the_open_alert() -> None:
    mon = monitor("high_frequency_small")
    raised = mon.observe_many(_burst(0, 12))
    ids = {a.id for a in raised}
    assert ids == {"a1"}  # one alert, revised
    assert [a.revision for a in raised] == [1, 2, 3]
    assert len(raised[-1].transaction_ids) == 12
    assert raised[-1].raised_at == raised[0].raised_at


def test_a_repeat_that_adds_nothing_is_suppressed() -> None:
    mon = monitor("location_anomaly")
    home = tx("cus", "s", 1, latitude=39.9, longitude=116.4)
    far = tx("cus", "s", 1, minutes=10, latitude=31.2, longitude=121.5)
    assert len(mon.observe(home) + mon.observe(far)) == 1
    assert mon.observe(far) == []  # the same transaction fed again


def test_after_the_cool_down_a_new_alert_is_raised() -> None:
    mon = monitor(
        "high_frequency_small",
        cooldown=timedelta(hours=2),
        high_frequency_small=MonitorConfig().high_frequency_small.__class__(habit_after=5),
    )
    first = mon.observe_many(_burst(0))
    second = mon.observe_many(_burst(3))
    assert {a.id for a in first} == {"a1"}
    assert {a.id for a in second} == {"a2"}


def test_alerts_serialise() -> None:
    mon = monitor("high_frequency_small")
    (alert,) = {a.id: a for a in mon.observe_many(_burst(0))}.values()
    data = alert.as_dict()
    assert data["typology"] == "high_frequency_small"
    assert data["evidence"]["edges"][0]["amount"] == 50 * YUAN
    assert data["raised_at"].endswith("+00:00")


def test_unknown_typologies_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        MonitorConfig(enabled=frozenset({"smurfing"}))


def test_every_typology_has_a_detector() -> None:
    assert [d.typology for d in Monitor().detectors] == list(ALL_TYPOLOGIES)


def test_default_ids_are_platform_ids() -> None:
    mon = Monitor(MonitorConfig(enabled=frozenset({"high_frequency_small"})))
    (alert, *_) = mon.observe_many(_burst(0))
    assert alert.id.startswith("aml_")
