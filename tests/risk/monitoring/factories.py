"""Building transactions for the monitoring tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from payhub.risk.monitoring import Alert, Monitor, MonitorConfig, Transaction

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = count(1)


def tx(
    source: str,
    target: str,
    amount: int,
    *,
    minutes: float = 0,
    hours: float = 0,
    days: float = 0,
    **extra: Any,
) -> Transaction:
    at = T0 + timedelta(days=days, hours=hours, minutes=minutes)
    return Transaction(f"t{next(_ids)}", at, source, target, amount, "CNY", **extra)


def monitor(*typologies: str, **rules: Any) -> Monitor:
    """A monitor with only these detectors on, numbering alerts a1, a2, …"""
    config = MonitorConfig(enabled=frozenset(typologies), **rules)
    numbers = count(1)
    return Monitor(config, alert_id=lambda: f"a{next(numbers)}")


def run(mon: Monitor, transactions: Iterable[Transaction]) -> dict[str, Alert]:
    """The last revision of every alert raised."""
    latest: dict[str, Alert] = {}
    for item in sorted(transactions, key=lambda t: t.at):
        for alert in mon.observe(item):
            latest[alert.id] = alert
    return latest
