"""Background work of events: fan out new events, send due webhook deliveries."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.events.delivery import deliver_due
from payhub.events.service import dispatch


async def dispatch_events(db: Database) -> int:
    total = 0
    while True:
        done = await db.run_in_transaction(lambda s: dispatch(s, limit=200))
        total += done
        if done < 200:
            return total


async def send_webhooks(db: Database) -> int:
    return await deliver_due(db)
