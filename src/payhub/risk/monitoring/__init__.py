"""Transaction monitoring: typologies over the transaction graph, after the fact.

`graph` keeps the time-windowed graph of payers and payees; `detectors` holds one detector
per payment typology (fan-in, fan-out, cycle, scatter-gather, gather-scatter, rapid
in-and-out, dormant-then-active, many-to-one collection, high-frequency small amounts,
location anomaly) and `payout_detectors` those of money leaving the platform (rapid
pass-through, one bank account shared by merchants, a split to a receiver bound minutes
before, withdrawals structured under the limits); `engine.Monitor` runs every transaction
through them and hands back alerts with their evidence. Pure and in-process: no tables, no
I/O (docs/aml.md). `consumer` (with `outflows`, `tasks`, `routes`, `cli` and its cursor
table in `models`) is the glue that feeds it the platform's outbox and stores its alerts.
"""

from payhub.risk.monitoring.alerts import Alert, Evidence
from payhub.risk.monitoring.engine import (
    ALL_TYPOLOGIES,
    PAYOUT_TYPOLOGIES,
    TYPOLOGIES,
    Monitor,
    MonitorConfig,
)
from payhub.risk.monitoring.graph import Transaction, TransactionGraph

__all__ = [
    "ALL_TYPOLOGIES",
    "PAYOUT_TYPOLOGIES",
    "TYPOLOGIES",
    "Alert",
    "Evidence",
    "Monitor",
    "MonitorConfig",
    "Transaction",
    "TransactionGraph",
]
