"""The job `risk.monitor`: every money-moving outbox event through the monitor, once.

One consumer per process and database: it keeps the transaction graph in memory between
rounds, so a process that runs the job every few seconds replays the history once, at its
first round, and then only reads what is new."""

from __future__ import annotations

import weakref

from payhub.db.session import Database
from payhub.risk.monitoring.consumer import MonitorConsumer, Progress

_consumers: weakref.WeakKeyDictionary[Database, MonitorConsumer] = weakref.WeakKeyDictionary()


def consumer_for(db: Database) -> MonitorConsumer:
    """This process's consumer on `db` (made on first use)."""
    found = _consumers.get(db)
    if found is None:
        found = _consumers[db] = MonitorConsumer(db)
    return found


async def monitor_transactions(db: Database, *, on_replay: Progress | None = None) -> int:
    """Events processed (0 when another process holds the cursor or nothing is new)."""
    return (await consumer_for(db).run(on_replay=on_replay)).events
