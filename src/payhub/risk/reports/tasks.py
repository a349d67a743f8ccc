"""The daily job: the large-value report of the last day that is over (China Standard
Time), once. Safe in several workers at once: the register takes one report per day."""

from __future__ import annotations

from payhub.db.session import Database
from payhub.risk.reports.daily import generate_large_value, last_complete_day


async def generate_large_value_reports(db: Database) -> int:
    """How many reports were made (0 once the day's is registered)."""
    day = last_complete_day()
    _, created = await db.transact(lambda sql: generate_large_value(sql, day))
    return 1 if created else 0
