"""The large-value report of one day: generated once the day is over in China Standard
Time, once (a repeat returns the report already registered for the day)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.sql import Sql, as_sql
from payhub.risk.reports import register, sources
from payhub.risk.reports.large_value import china_day, day_bounds, day_is_over, reportable


def dedup_key(day: date) -> str:
    return f"large_value:{day.isoformat()}"


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str) -> date:
    """A day as YYYY-MM-DD (a China Standard Time day)."""
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise PayHubError("validation_error", param="day", detail="a date as YYYY-MM-DD")


async def generate_large_value(
    tx: AsyncSession | Sql, day: date, *, who: register.Institution | None = None
) -> tuple[register.ReportView, bool]:
    """The day's report, and whether it was made now."""
    if not day_is_over(day, clock.now()):
        raise PayHubError("risk_report_day_not_over", day=day.isoformat())
    sql = await as_sql(tx)
    existing = await register.find(sql, dedup_key(day))
    if existing is not None:
        return existing, False
    start, end = day_bounds(day)
    reported = reportable(await sources.flows_between(sql, start, end), day)
    rows = await sources.rows_for(sql, [(r.flow, r.day_total) for r in reported])
    return await register.add(
        sql,
        kind="large_value",
        dedup_key=dedup_key(day),
        report_date=day.isoformat(),
        rows=rows,
        who=who,
    )


def last_complete_day() -> date:
    """Yesterday in China Standard Time: the latest day that is over."""
    return china_day(clock.now()) - timedelta(days=1)
