"""Channel settlement: each card channel pays what it owes into the custody account.

A channel's period is one day of its movements, from the previous day's cut-off to this
day's (China time, the channel's schedule); the money arrives `delay_days` business days
later. Once that day has come, the job reads the channel's statement for the period and
posts one journal per channel × currency × period (`chs_<channel>_<currency>_<yyyymmdd>`):

    debit  bank:custody               net (what the statement says was paid)
    debit  channel:<id>:fees          the statement's fees not booked at capture
    credit channel:<id>:clearing      net + those fees

Captures debit `channel:<id>:clearing` with the gross amount and refunds credit it. When
the channel's cost is booked at capture (debit `channel:<id>:fees`, credit clearing), the
clearing account already holds the net, and the fees line above is zero. The job tells
how much of the fees were booked at capture from the ledger: the movement of
`channel:<id>:fees` by other journals before the period's end, cumulated, against the
statements' fees cumulated — so a capture posted just after a cut-off (its fee in the next
period) evens out in the next period instead of being expensed twice. A net below zero
(refunds larger than captures) credits custody.

The period's row (`channel_settlements`) is claimed first with an insert that does
nothing on conflict, so two workers never post the same period; the statement's
reference (channel, day, digest of its lines' references) is kept for reconciliation.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.base import (
    ChannelAdapter,
    ChannelKind,
    SettlementSchedule,
    StatementKind,
    StatementLine,
)
from payhub.core import clock
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql, as_sql, table_of
from payhub.ledger import service as ledger
from payhub.ledger.service import AccountSpec, JournalSpec, PostingSpec, Side
from payhub.settlement.balances.models import ChannelSettlement
from payhub.settlement.calendar import BusinessCalendar, load_calendar, parse_cutoff

log = logging.getLogger("payhub.settlement")

CUSTODY = "bank:custody"
CHANNEL_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CHANNEL_PREFIX = "chs_"
# A channel never settled before: its periods of the last week are looked at.
FIRST_LOOKBACK_DAYS = 7
DEFAULT_SCHEDULE = SettlementSchedule()

_ROWS = table_of(ChannelSettlement)
_CLAIM = {
    "postgresql": pg_insert(_ROWS).on_conflict_do_nothing().returning(_ROWS.c.id),
    "sqlite": sqlite_insert(_ROWS).on_conflict_do_nothing().returning(_ROWS.c.id),
}
_LAST = select(func.max(_ROWS.c.period_start)).where(_ROWS.c.channel_id == bindparam("channel_id"))
_FEES_BOOKED = select(func.coalesce(func.sum(_ROWS.c.fees_booked), 0)).where(
    _ROWS.c.channel_id == bindparam("channel_id"), _ROWS.c.currency == bindparam("currency")
)
_FIRST = select(func.min(_ROWS.c.period_start)).where(
    _ROWS.c.channel_id == bindparam("channel_id"), _ROWS.c.currency == bindparam("currency")
)
_FEES_BEFORE = select(func.coalesce(func.sum(_ROWS.c.fees), 0)).where(
    _ROWS.c.channel_id == bindparam("channel_id"),
    _ROWS.c.currency == bindparam("currency"),
    _ROWS.c.period_start < bindparam("start"),
)


@dataclass(frozen=True, slots=True)
class Period:
    day: date  # the day whose movements it holds (China time)
    start: datetime
    end: datetime
    settles_on: date


@dataclass(frozen=True, slots=True)
class ChannelSettlementView:
    id: str
    channel_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    settles_on: date
    lines: int
    gross_captured: int
    gross_refunded: int
    fees: int
    fees_booked: int
    net: int
    statement_ref: str
    posted_at: datetime

    @property
    def journal_id(self) -> str | None:
        return self.id if self.net != 0 or self.fees_booked != 0 else None


def period_of(day: date, schedule: SettlementSchedule, calendar: BusinessCalendar) -> Period:
    cutoff = parse_cutoff(schedule.cutoff)
    settles_on = calendar.on_or_after(day)
    for _ in range(schedule.delay_days):
        settles_on = calendar.next_business_day(settles_on)
    return Period(
        day=day,
        start=calendar.cutoff_moment(day - timedelta(days=1), cutoff),
        end=calendar.cutoff_moment(day, cutoff),
        settles_on=settles_on,
    )


def due_periods(
    schedule: SettlementSchedule,
    calendar: BusinessCalendar,
    now: datetime,
    last_start: datetime | None,
) -> list[Period]:
    """Periods over whose money has arrived by `now`, after the last one settled."""
    first = (
        calendar.local_date(last_start) + timedelta(days=2)
        if last_start is not None
        else calendar.local_date(now) - timedelta(days=FIRST_LOOKBACK_DAYS)
    )
    periods = []
    day = first
    while True:
        period = period_of(day, schedule, calendar)
        arrives = calendar.cutoff_moment(period.settles_on, time(0, 0))
        if period.end > now or arrives > now:
            break
        periods.append(period)
        day += timedelta(days=1)
    return periods


def statement_reference(channel_id: str, period: Period, lines: list[StatementLine]) -> str:
    digest = hashlib.sha256("\n".join(sorted(ln.channel_ref for ln in lines)).encode())
    return f"{channel_id}/{period.day:%Y%m%d}/{len(lines)}/{digest.hexdigest()[:16]}"


def _accounts(channel_id: str, currency: str) -> list[AccountSpec]:
    return [
        AccountSpec(CUSTODY, currency, Side.DEBIT, name="Custody account at the partner bank"),
        AccountSpec(
            f"channel:{channel_id}:fees", currency, Side.DEBIT, name=f"Fees of {channel_id}"
        ),
    ]


async def _booked_at_capture(
    sql: Sql, channel_id: str, currency: str, start: datetime, end: datetime
) -> int:
    """What other journals (the capture and refund journals) expensed to the channel's
    fees account in [start, end)."""
    code = f"channel:{channel_id}:fees"
    fees = (await ledger.balances_by_code(sql, [code], currency)).get(code)
    if fees is None:
        return 0
    moved = []
    for moment in (start, end):
        _, since = await ledger.posted_now_and_since(
            sql, fees.account_id, Side.DEBIT, moment, excluding_journal_prefix=CHANNEL_PREFIX
        )
        moved.append(since)
    return moved[0] - moved[1]


async def settle_period(
    session: AsyncSession,
    channel_id: str,
    currency: str,
    period: Period,
    lines: list[StatementLine],
) -> ChannelSettlementView | None:
    """Post one period of one channel in one currency; None when it was settled before
    (here or by another worker)."""
    sql = await as_sql(session)
    captured = sum(ln.amount for ln in lines if ln.kind is StatementKind.CAPTURE)
    refunded = sum(ln.amount for ln in lines if ln.kind is StatementKind.REFUND)
    fees = sum(ln.fee for ln in lines)
    net = sum(ln.net for ln in lines)
    journal_id = f"{CHANNEL_PREFIX}{channel_id}_{currency}_{period.day:%Y%m%d}"
    earlier_fees = int(
        await sql.value(_FEES_BEFORE, channel_id=channel_id, currency=currency, start=period.start)
        or 0
    )
    first = await sql.value(_FIRST, channel_id=channel_id, currency=currency)
    first_start = clock.ensure_utc(_moment(first)) if first is not None else period.start
    booked_at_capture = await _booked_at_capture(sql, channel_id, currency, first_start, period.end)
    ours_before = int(await sql.value(_FEES_BOOKED, channel_id=channel_id, currency=currency) or 0)
    # Cumulative over the settled periods: every statement fee is expensed exactly once,
    # at capture or here.
    fees_booked = (earlier_fees + fees) - booked_at_capture - ours_before
    view = ChannelSettlementView(
        id=journal_id,
        channel_id=channel_id,
        currency=currency,
        period_start=period.start,
        period_end=period.end,
        settles_on=period.settles_on,
        lines=len(lines),
        gross_captured=captured,
        gross_refunded=refunded,
        fees=fees,
        fees_booked=fees_booked,
        net=net,
        statement_ref=statement_reference(channel_id, period, lines),
        posted_at=clock.now(),
    )
    claim = _CLAIM["postgresql" if sql.is_postgres else "sqlite"]
    values = {f: getattr(view, f) for f in ChannelSettlementView.__dataclass_fields__}
    if await sql.value(claim, **values) is None:
        return None
    postings = _postings(channel_id, currency, net, fees_booked)
    if postings:
        spec = JournalSpec(
            postings,
            id=journal_id,
            description=f"Settlement of {channel_id} for {period.day.isoformat()} into custody",
            metadata={"channel": channel_id, "statement": view.statement_ref},
        )
        try:
            await ledger.record_journal(sql, spec)
        except PayHubError as error:
            if error.code != "account_not_found":
                raise
            await ledger.ensure_accounts(sql, _accounts(channel_id, currency))
            await ledger.record_journal(sql, spec)
    return view


def _postings(channel_id: str, currency: str, net: int, fees: int) -> tuple[PostingSpec, ...]:
    """Custody and fees against clearing; each line on the side its sign says."""
    lines = []
    for code, amount in ((CUSTODY, net), (f"channel:{channel_id}:fees", fees)):
        if amount:
            side = Side.DEBIT if amount > 0 else Side.CREDIT
            lines.append(PostingSpec(code, side, abs(amount), currency))
    clearing = net + fees
    if clearing:
        side = Side.CREDIT if clearing > 0 else Side.DEBIT
        lines.append(PostingSpec(f"channel:{channel_id}:clearing", side, abs(clearing), currency))
    return tuple(lines)


def _schedule(adapter: ChannelAdapter) -> SettlementSchedule:
    return adapter.info.settlement or DEFAULT_SCHEDULE


async def settle_channel(
    db: Database, adapter: ChannelAdapter, *, calendar: BusinessCalendar | None = None
) -> list[ChannelSettlementView]:
    """Every due period of one card channel."""
    calendar = calendar or load_calendar("CN")
    channel_id = adapter.channel_id
    last = await db.run_in_transaction(lambda s: _last_start(s, channel_id))
    done: list[ChannelSettlementView] = []
    for period in due_periods(_schedule(adapter), calendar, clock.now(), last):
        lines = await adapter.statement(channel_id, period.start, period.end)
        by_currency: dict[str, list[StatementLine]] = defaultdict(list)
        for line in lines:
            if line.kind in (StatementKind.CAPTURE, StatementKind.REFUND):
                by_currency[line.currency].append(line)
        # A period without movements is registered too (in the channel's first currency),
        # so the next pass starts after it.
        currencies = sorted(by_currency) or sorted(adapter.info.currencies)[:1]
        for currency in currencies:
            view = await db.run_in_transaction(
                lambda s, c=currency, p=period, ls=by_currency.get(currency, []): (  # type: ignore[misc]
                    settle_period(s, channel_id, c, p, ls)
                )
            )
            if view is not None:
                done.append(view)
    return done


def _moment(value: Any) -> datetime:
    """A timestamp from an aggregate (SQLite answers MIN/MAX of a timestamp as text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def _last_start(session: AsyncSession, channel_id: str) -> datetime | None:
    value = await (await as_sql(session)).value(_LAST, channel_id=channel_id)
    return None if value is None else clock.ensure_utc(_moment(value))


async def settle_channels(
    db: Database, channels: Mapping[str, ChannelAdapter] | None = None
) -> list[ChannelSettlementView]:
    """Every card channel's due periods; a channel whose statement cannot be read now is
    left for the next pass."""
    if channels is None:
        from payhub.payments.channels import get_channels

        channels = get_channels()
    done: list[ChannelSettlementView] = []
    for channel_id, adapter in sorted(channels.items()):
        if adapter.info.kind is not ChannelKind.CARD or adapter.channel_id != channel_id:
            continue
        try:
            done.extend(await settle_channel(db, adapter))
        except Exception:  # the statement could not be fetched: try again next pass
            log.exception("channel settlement failed", extra={"channel": channel_id})
    return done


def view_of(row: Mapping[str, Any]) -> ChannelSettlementView:
    values = {f: row[f] for f in ChannelSettlementView.__dataclass_fields__}
    if not isinstance(values["settles_on"], date):
        values["settles_on"] = date.fromisoformat(str(values["settles_on"]))
    return ChannelSettlementView(**values)


def settlement_object(view: ChannelSettlementView) -> dict[str, Any]:
    return {
        "id": view.id,
        "object": "channel_settlement",
        "channel": view.channel_id,
        "currency": view.currency,
        "period_start": to_rfc3339(view.period_start),
        "period_end": to_rfc3339(view.period_end),
        "settles_on": view.settles_on.isoformat(),
        "lines": view.lines,
        "gross_captured": view.gross_captured,
        "gross_refunded": view.gross_refunded,
        "fees": view.fees,
        "fees_booked": view.fees_booked,
        "net": view.net,
        "statement_ref": view.statement_ref,
        "journal": view.journal_id,
        "posted_at": to_rfc3339(view.posted_at),
    }


async def list_channel_settlements(
    tx: AsyncSession | Sql,
    *,
    limit: int,
    starting_after: str | None = None,
    channel_id: str | None = None,
) -> tuple[list[ChannelSettlementView], bool]:
    sql = await as_sql(tx)
    query = select(_ROWS).order_by(_ROWS.c.period_start.desc(), _ROWS.c.id.desc())
    if channel_id is not None:
        query = query.where(_ROWS.c.channel_id == channel_id)
    if starting_after is not None:
        known = re.fullmatch(r"chs_[a-z0-9_]{1,40}_[A-Z]{3}_\d{8}", starting_after)
        anchor = await sql.one(select(_ROWS).where(_ROWS.c.id == starting_after)) if known else None
        if anchor is None:
            raise PayHubError(
                "settlement_not_found", param="starting_after", settlement=starting_after[:64]
            )
        query = query.where(
            tuple_(_ROWS.c.period_start, _ROWS.c.id) < tuple_(anchor["period_start"], anchor["id"])
        )
    rows = await sql.all_once(query.limit(limit + 1))
    return [view_of(r) for r in rows[:limit]], len(rows) > limit
