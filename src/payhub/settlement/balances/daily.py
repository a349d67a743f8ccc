"""The daily settlement run and the reserve release.

T+1 merchants: once the clock passes business day D's cut-off, the run for D moves to
available (less the reserve) what was pending as of the previous business day's cut-off
B — captures and refunds posted before B that no earlier run settled. Weekends and
holidays have no cut-off, so their money waits for the next business day's window. The
amount is read from the ledger as "pending now, less what captures and refunds added
since B" (one statement, one snapshot), which makes every run catch up on whatever an
earlier one did not move, and never moves more than is pending now.

Real-time merchants: the same run sweeps whatever is left in pending (money from before a
switch to real time, or a refund's shortfall that available could not cover).

When what was pending at B is negative (refunds of money already settled), the run takes
it back into pending from available, then from reserve.

Every run holds the merchant's settlement lock (its settings row; `SKIP LOCKED` on
PostgreSQL, so a worker skips a merchant another is settling) and has a deterministic id,
`stl_d_<merchant>_<currency>_<yyyymmdd>`: a second run of the same day finds its row and
moves nothing, in this process or another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql, as_sql
from payhub.events import service as events
from payhub.ledger import service as ledger
from payhub.settlement.balances import entries, journals, settings
from payhub.settlement.balances.entries import EntryView
from payhub.settlement.balances.journals import Movement
from payhub.settlement.calendar import parse_cutoff

log = logging.getLogger(__name__)

# A merchant's missed days are caught up one by one, at most this many (older windows
# are included in the first run anyway: the amount is cumulative).
MAX_CATCH_UP_DAYS = 31
_PAGE = 500


@dataclass(frozen=True, slots=True)
class RunSummary:
    merchants: int
    runs: int
    settled: int  # minor units made available or reserved, all currencies together
    recovered: int
    skipped: int  # merchants another worker was settling


def daily_id(merchant_id: str, currency: str, day: date) -> str:
    return f"stl_d_{merchant_id}_{currency}_{day:%Y%m%d}"


async def money_accounts(db: Database) -> set[tuple[str, str]]:
    """(merchant, currency) of every pending account (every merchant that ever captured)."""
    found: set[tuple[str, str]] = set()
    after: str | None = None
    while True:
        page, more = await db.run_in_transaction(
            lambda s, a=after: ledger.list_accounts(  # type: ignore[misc]
                s, limit=_PAGE, starting_after=a, code_prefix="merchant:"
            )
        )
        for account in page:
            if account.code.endswith(":pending") and account.owner:
                found.add((account.owner, account.currency))
        if not more or not page:
            return found
        after = page[-1].id


async def merchants_with_money(db: Database) -> list[str]:
    return sorted({merchant for merchant, _ in await money_accounts(db)})


async def due_merchants(db: Database, now: datetime) -> list[str]:
    """Merchants with a currency whose latest due business day has no run yet: found with
    a few reads, so a job pass over many merchants opens a transaction only for those."""
    accounts = await money_accounts(db)

    async def read(session: AsyncSession) -> tuple[dict[str, settings.SettingsView], Any]:
        sql = await as_sql(session)
        return await settings.all_settings(sql), await entries.last_daily_days(sql)

    configured, last_days = await db.run_in_transaction(read)
    due: set[str] = set()
    for merchant_id, currency in accounts:
        merchant = configured.get(merchant_id) or settings.defaults(merchant_id)
        latest = merchant.business_calendar().last_cutoff_day(now, parse_cutoff(merchant.cutoff))
        last = last_days.get((merchant_id, currency))
        if last is None or last < latest:
            due.add(merchant_id)
    return sorted(due)


async def _currencies(session: AsyncSession, merchant_id: str) -> list[str]:
    accounts, _ = await ledger.list_accounts(
        session, limit=100, code_prefix=journals.pending_code(merchant_id)
    )
    return sorted({a.currency for a in accounts if a.code == journals.pending_code(merchant_id)})


def _days_to_run(merchant: settings.SettingsView, last: date | None, now: datetime) -> list[date]:
    calendar = merchant.business_calendar()
    cutoff = parse_cutoff(merchant.cutoff)
    latest = calendar.last_cutoff_day(now, cutoff)
    if last is None or last >= latest:
        return [] if last is not None else [latest]
    days: list[date] = []
    day = latest
    while day > last and len(days) < MAX_CATCH_UP_DAYS:
        days.append(day)
        day = calendar.previous_business_day(day)
    provisional = sorted({d.year for d in days if calendar.is_provisional(d)})
    if provisional:
        # Settled all the same (stopping at New Year would be worse), but said: the
        # notice's bridging days may make one of these days a holiday.
        log.warning(
            "settling on a provisional holiday calendar",
            extra={"merchant": merchant.merchant_id, "years": provisional},
        )
    return sorted(days)


async def settle_merchant(
    session: AsyncSession, merchant_id: str, now: datetime
) -> list[EntryView] | None:
    """Run every due day of one merchant, in the caller's transaction. None when another
    worker holds the merchant's lock."""
    sql = await as_sql(session)
    merchant = await settings.lock_settings(sql, merchant_id, skip_locked=True)
    if merchant is None:
        return None
    done: list[EntryView] = []
    for currency in await _currencies(session, merchant_id):
        last = await entries.last_daily_day(sql, merchant_id, currency)
        for day in _days_to_run(merchant, last, now):
            done.append(await _run_day(sql, merchant, currency, day, now))
    return done


async def _run_day(
    sql: Sql, merchant: settings.SettingsView, currency: str, day: date, now: datetime
) -> EntryView:
    merchant_id = merchant.merchant_id
    entry_id = daily_id(merchant_id, currency, day)
    pending = (await journals.merchant_balances(sql, merchant_id, currency)).get("pending")
    calendar = merchant.business_calendar()
    window_end: datetime | None = None
    if pending is None:
        target = balance = 0
    elif merchant.realtime:
        target = balance = pending.posted
    else:
        window_end = calendar.cutoff_moment(
            calendar.previous_business_day(day), parse_cutoff(merchant.cutoff)
        )
        balance, since = await ledger.posted_now_and_since(
            sql,
            pending.account_id,
            pending.normal_side,
            window_end,
            excluding_journal_prefix=journals.SETTLEMENT_PREFIX,
        )
        target = balance - since
    metadata = {"merchant": merchant_id, "business_day": day.isoformat()}
    description = f"Settlement of {merchant_id} for {day.isoformat()}"
    if target > 0 and balance > 0:
        amount = min(target, balance)
        move = Movement(amount, reserve=journals.reserve_of(amount, merchant.reserve_bps))
        spec = journals.settlement_spec(
            entry_id, merchant_id, currency, move, description=description, metadata=metadata
        )
        await journals.record(sql, spec, merchant_id)
    elif target < 0 and balance < 0:
        move = await journals.record_recovery(
            sql,
            merchant_id,
            currency,
            min(-target, -balance),
            journal_id=entry_id,
            description=description,
            metadata=metadata,
        )
    else:
        move = Movement(0)
    return await entries.add_entry(
        sql,
        entry_id=entry_id,
        merchant_id=merchant_id,
        currency=currency,
        kind="daily",
        mode=merchant.mode,
        business_day=day,
        move=move,
        now=now,
        reserve_days=merchant.reserve_days,
        window_end=window_end,
    )


async def settle_due(
    db: Database,
    *,
    merchant_ids: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Run every merchant's due days, one transaction per merchant; `progress(done,
    total)` after each."""
    now = clock.now()
    targets = merchant_ids if merchant_ids is not None else await due_merchants(db, now)
    runs = settled = recovered = skipped = 0
    for index, merchant_id in enumerate(targets, start=1):
        done = await db.run_in_transaction(
            lambda s, m=merchant_id: settle_merchant(s, m, now)  # type: ignore[misc]
        )
        if done is None:
            skipped += 1
        else:
            runs += len(done)
            settled += sum(e.amount for e in done if e.amount > 0)
            recovered += sum(-e.amount for e in done if e.amount < 0)
        if progress is not None:
            progress(index, len(targets))
    return RunSummary(len(targets), runs, settled, recovered, skipped)


# --------------------------------------------------------------------------- reserve release


async def release_due_reserves(db: Database, *, limit: int = 200) -> int:
    """Move reserves whose holding period is over back to available; how many entries were
    released. Entries are claimed with `SKIP LOCKED`, so workers share the work."""
    now = clock.now()

    async def work(session: AsyncSession) -> int:
        sql = await as_sql(session)
        rows = await sql.all_once(entries.due_releases(now, limit, postgres=sql.is_postgres))
        for row in rows:
            await _release(sql, entries.entry_view(row), now)
        return len(rows)

    total = 0
    while True:
        released = await db.run_in_transaction(work)
        total += released
        if released < limit:
            return total


async def _release(sql: Sql, entry: EntryView, now: datetime) -> None:
    """Release one entry's reserve: all of it, or what is left of the reserve account when
    refunds took some of it. Left for the next pass when a concurrent writer kept taking
    the reserve first."""
    for _ in range(3):
        balances = await journals.merchant_balances(sql, entry.merchant_id, entry.currency)
        reserve = balances.get("reserve")
        amount = min(entry.reserve, max(0, reserve.available if reserve else 0))
        if amount > 0:
            spec = journals.release_spec(
                f"rsv_{entry.id}", entry.merchant_id, entry.currency, amount
            )
            try:
                await journals.record(sql, spec, entry.merchant_id)
            except PayHubError as error:
                if error.code != "insufficient_funds":
                    raise
                continue
        await entries.mark_released(sql, entry.id, now, amount)
        if amount > 0:
            released = {**entries.entry_object(entry), "released": amount}
            await events.emit(
                sql,
                type="balance.reserve_released",
                merchant_id=entry.merchant_id,
                data={"object": released},
            )
        return
