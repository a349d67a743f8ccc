"""Reconciliation's service layer: run a statement, read runs and breaks, resolve a break,
the daily report. The API and the command line call these; other modules too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.channels.base import StatementLine
from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.db.session import sqlstate
from payhub.db.sql import Row, Sql, as_sql
from payhub.ledger import service as ledger
from payhub.payments.channels import get_channels
from payhub.settlement.reconciliation import engine
from payhub.settlement.reconciliation.engine import BREAKS, RUNS, day_bounds
from payhub.settlement.reconciliation.models import BREAK_TYPES
from payhub.settlement.reconciliation.proposals import journal_for
from payhub.settlement.reconciliation.statements import file_hash, to_csv

ACTIONS = ("post_proposed", "write_off", "mark_explained")
# Ageing buckets of open breaks, in whole days since their statement's date.
AGEING = (("0-1d", 0, 1), ("2-7d", 2, 7), (">7d", 8, None))


@dataclass(frozen=True, slots=True)
class RunView:
    id: str
    channel_id: str
    statement_date: date
    file_hash: str
    source: str
    status: str
    lines: int
    matched_count: int
    matched_amounts: dict[str, int]
    statement_net: dict[str, int]
    breaks_found: int
    break_counts: dict[str, int]
    timing_closed: int
    custody_net: dict[str, int] | None
    custody_difference: dict[str, int] | None
    duration_ms: int
    created_at: datetime

    @classmethod
    def of(cls, row: Row) -> RunView:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class BreakView:
    id: str
    run_id: str
    channel_id: str
    statement_date: date
    type: str
    status: str
    kind: str
    currency: str
    line_no: int | None
    request_id: str | None
    channel_ref: str | None
    statement_amount: int | None
    statement_fee: int | None
    attempt_id: str | None
    payment_id: str | None
    ledger_amount: int | None
    difference: int
    occurred_at: datetime
    proposed_journal: dict[str, Any] | None
    note: str | None
    resolution: str | None
    reason: str | None
    journal_id: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    closed_by_run_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Row) -> BreakView:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def age_days(self, on: date) -> int:
        return max(0, (on - self.statement_date).days)


# ------------------------------------------------------------------------------ channels


def check_channel(channel_id: str) -> str:
    if channel_id not in get_channels():
        raise PayHubError(
            "reconciliation_channel_unknown", param="channel", channel=channel_id[:64]
        )
    return channel_id


async def fetch_statement(channel_id: str, day: date) -> list[StatementLine]:
    """The channel's own statement for `day`, through its adapter."""
    adapter = get_channels()[check_channel(channel_id)]
    start, end = day_bounds(day)
    return await adapter.statement(channel_id, start, end)


def _is_unique_violation(error: BaseException) -> bool:
    return sqlstate(error) == "23505" or "UNIQUE constraint failed" in str(error)


def _checked(lines: Iterable[StatementLine], channel_id: str) -> Iterator[StatementLine]:
    """Lines of any reader, each for this channel (a CSV reader has checked already)."""
    for n, line in enumerate(lines, start=1):
        if line.channel_id != channel_id:
            raise PayHubError(
                "statement_malformed",
                param="statement",
                line=n,
                detail=f"the line is for channel {line.channel_id[:64]!r}, not {channel_id!r}",
            )
        yield line


# ---------------------------------------------------------------------------------- runs

_INSERT_RUN = insert(RUNS)
_INSERT_BREAKS = insert(BREAKS)
_RUN = select(RUNS).where(RUNS.c.id == bindparam("run_id"))
_RUN_OF_DAY = select(RUNS).where(
    RUNS.c.channel_id == bindparam("channel"), RUNS.c.statement_date == bindparam("day")
)
_FINISH = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"))
    .values(
        status="completed",
        lines=bindparam("n_lines"),
        matched_count=bindparam("n_matched"),
        matched_amounts=bindparam("amounts"),
        statement_net=bindparam("net"),
        breaks_found=bindparam("n_breaks"),
        break_counts=bindparam("counts"),
        timing_closed=bindparam("n_closed"),
        custody_net=bindparam("custody"),
        custody_difference=bindparam("custody_diff"),
        duration_ms=bindparam("ms"),
    )
)


async def run_statement(
    tx: AsyncSession | Sql,
    *,
    channel_id: str,
    day: date,
    lines: Iterable[StatementLine] | bytes,
    statement_hash: str,
    source: str = "upload",
    custody: dict[str, int] | None = None,
    late_window: timedelta = engine.DEFAULT_LATE_WINDOW,
    phases: dict[str, float] | None = None,
) -> tuple[RunView, bool]:
    """Reconcile one channel's statement for one day (lines from any reader, or CSV bytes
    as received), in the caller's transaction. Returns
    the run and whether it ran now: the same statement again gives the first run back; a
    different one for a day already reconciled is refused. `custody`: what the custody
    account's statement shows the channel settled that day, per currency (three-way).
    `phases`, when given, receives the seconds each phase of the run took."""
    check_channel(channel_id)
    sql = await as_sql(tx)
    existing = await sql.one(_RUN_OF_DAY, channel=channel_id, day=day)
    if existing is not None:
        if existing["file_hash"] == statement_hash:
            return RunView.of(existing), False
        raise PayHubError(
            "reconciliation_run_exists",
            param="date",
            channel=channel_id,
            date=day.isoformat(),
            run=existing["id"],
        )
    run_id = new_id("rcr")
    now = clock.now()
    try:
        await sql.run(
            _INSERT_RUN,
            id=run_id,
            channel_id=channel_id,
            statement_date=day,
            file_hash=statement_hash,
            source=source,
            status="running",
            lines=0,
            matched_count=0,
            matched_amounts={},
            statement_net={},
            breaks_found=0,
            break_counts={},
            timing_closed=0,
            custody_net=None,
            custody_difference=None,
            duration_ms=0,
            created_at=now,
        )
    except Exception as error:
        if not _is_unique_violation(error):
            raise
        # Another run of the same day got there first (it committed while we waited).
        raise PayHubError(
            "reconciliation_run_exists",
            param="date",
            channel=channel_id,
            date=day.isoformat(),
            run="in progress",
        ) from None
    outcome = await engine.reconcile(
        sql,
        run_id=run_id,
        channel_id=channel_id,
        day=day,
        statement=lines if isinstance(lines, bytes) else _checked(lines, channel_id),
        late_window=late_window,
    )
    if phases is not None:
        phases.update(outcome.phases)
    difference = None
    counts = dict(outcome.break_counts)
    if custody is not None:
        difference = {
            cur: custody.get(cur, 0) - outcome.statement_net.get(cur, 0)
            for cur in sorted(set(custody) | set(outcome.statement_net))
        }
        mismatched = {cur: d for cur, d in difference.items() if d != 0}
        if mismatched:
            await _custody_breaks(sql, run_id, channel_id, day, mismatched, now)
            counts["custody_mismatch"] = len(mismatched)
    await sql.run(
        _FINISH,
        run_id=run_id,
        n_lines=outcome.lines,
        n_matched=outcome.matched_count,
        amounts=outcome.matched_amounts,
        net=outcome.statement_net,
        n_breaks=sum(counts.values()),
        counts=counts,
        n_closed=outcome.timing_closed,
        custody=custody,
        custody_diff=difference,
        ms=int(outcome.seconds * 1000),
    )
    await audit.record(
        sql,
        "reconciliation.run",
        target_type="reconciliation_run",
        target_id=run_id,
        details={
            "channel": channel_id,
            "date": day.isoformat(),
            "lines": outcome.lines,
            "breaks": counts,
            "source": source,
        },
    )
    row = await sql.one(_RUN, run_id=run_id)
    assert row is not None
    return RunView.of(row), True


async def _custody_breaks(
    sql: Sql, run_id: str, channel_id: str, day: date, differences: dict[str, int], now: datetime
) -> None:
    """Three-way: the custody account received a different net than the statement says."""
    start, _ = day_bounds(day)
    rows = [
        {
            "id": new_id("rcb"),
            "run_id": run_id,
            "channel_id": channel_id,
            "statement_date": day,
            "type": "custody_mismatch",
            "status": "open",
            "kind": "capture",
            "currency": cur,
            "line_no": None,
            "request_id": None,
            "channel_ref": None,
            "statement_amount": None,
            "statement_fee": None,
            "attempt_id": None,
            "payment_id": None,
            "ledger_amount": None,
            "difference": diff,
            "occurred_at": start,
            "proposed_journal": None,
            "note": "the custody account's settlement differs from the statement's net",
            "resolution": None,
            "reason": None,
            "journal_id": None,
            "resolved_by": None,
            "resolved_at": None,
            "closed_by_run_id": None,
            "created_at": now,
            "updated_at": now,
        }
        for cur, diff in differences.items()
    ]
    await sql.run_many(_INSERT_BREAKS, rows)


async def run_csv(
    tx: AsyncSession | Sql,
    *,
    channel_id: str,
    day: date,
    data: bytes,
    custody: dict[str, int] | None = None,
    phases: dict[str, float] | None = None,
) -> tuple[RunView, bool]:
    """`run_statement` for a CSV statement as received."""
    check_channel(channel_id)
    return await run_statement(
        tx,
        channel_id=channel_id,
        day=day,
        lines=data,
        statement_hash=file_hash(data),
        custody=custody,
        phases=phases,
    )


async def run_fetched(
    tx: AsyncSession | Sql, *, channel_id: str, day: date, custody: dict[str, int] | None = None
) -> tuple[RunView, bool]:
    """`run_statement` for the statement the channel's adapter gives for `day`."""
    lines = await fetch_statement(channel_id, day)
    return await run_statement(
        tx,
        channel_id=channel_id,
        day=day,
        lines=lines,
        statement_hash=file_hash(to_csv(lines)),
        source="channel",
        custody=custody,
    )


async def get_run(tx: AsyncSession | Sql, run_id: str) -> RunView:
    row = await (await as_sql(tx)).one(_RUN, run_id=run_id)
    if row is None:
        raise PayHubError("reconciliation_run_not_found", param="id", run=run_id[:64])
    return RunView.of(row)


async def list_runs(
    tx: AsyncSession | Sql,
    *,
    channel_id: str | None = None,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[RunView], bool]:
    query = select(RUNS).order_by(RUNS.c.id.desc()).limit(limit + 1)
    if channel_id is not None:
        query = query.where(RUNS.c.channel_id == channel_id)
    if starting_after is not None:
        query = query.where(RUNS.c.id < starting_after)
    rows = [RunView.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit


# -------------------------------------------------------------------------------- breaks

_BREAK = select(BREAKS).where(BREAKS.c.id == bindparam("break_id"))
_BREAK_LOCKED = _BREAK.with_for_update()
_RESOLVE = (
    update(BREAKS)
    .where(BREAKS.c.id == bindparam("break_id"), BREAKS.c.status == "open")
    .values(
        status="resolved",
        resolution=bindparam("action"),
        reason=bindparam("why"),
        journal_id=bindparam("journal"),
        resolved_by=bindparam("by"),
        resolved_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
)


@dataclass(frozen=True, slots=True)
class BreakFilter:
    status: str | None = None
    type: str | None = None
    channel_id: str | None = None
    run_id: str | None = None


async def get_break(tx: AsyncSession | Sql, break_id: str) -> BreakView:
    row = await (await as_sql(tx)).one(_BREAK, break_id=break_id)
    if row is None:
        raise PayHubError("reconciliation_break_not_found", param="id", id=break_id[:64])
    return BreakView.of(row)


async def list_breaks(
    tx: AsyncSession | Sql,
    filters: BreakFilter,
    *,
    limit: int = 20,
    starting_after: str | None = None,
) -> tuple[list[BreakView], bool]:
    query = select(BREAKS).order_by(BREAKS.c.id.desc()).limit(limit + 1)
    for column, value in (
        (BREAKS.c.status, filters.status),
        (BREAKS.c.type, filters.type),
        (BREAKS.c.channel_id, filters.channel_id),
        (BREAKS.c.run_id, filters.run_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if starting_after is not None:
        query = query.where(BREAKS.c.id < starting_after)
    rows = [BreakView.of(r) for r in await (await as_sql(tx)).all_once(query)]
    return rows[:limit], len(rows) > limit


async def resolve_break(
    tx: AsyncSession | Sql, break_id: str, *, action: str, reason: str
) -> BreakView:
    """Resolve an open break: `post_proposed` posts its correcting journal, `write_off`
    posts it against write-offs instead of suspense, `mark_explained` posts nothing. The
    journal and the break's new state commit together; the same resolution again answers
    with the break as it is (its journal id is the break's, so it is never posted twice)."""
    if action not in ACTIONS:
        raise PayHubError("validation_error", param="action", detail=", ".join(ACTIONS))
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise PayHubError("validation_error", param="reason", detail="1 to 500 characters")
    sql = await as_sql(tx)
    row = await sql.one(_BREAK_LOCKED, break_id=break_id)
    if row is None:
        raise PayHubError("reconciliation_break_not_found", param="id", id=break_id[:64])
    view = BreakView.of(row)
    if view.status != "open":
        if view.resolution == action:
            return view
        raise PayHubError(
            "reconciliation_break_resolved", id=break_id, resolution=view.resolution or ""
        )
    journal_id = None
    if action in ("post_proposed", "write_off"):
        if view.proposed_journal is None:
            raise PayHubError(
                "reconciliation_no_journal", param="action", id=break_id, type=view.type
            )
        spec, accounts = journal_for(
            break_id, view.proposed_journal, write_off=action == "write_off"
        )
        await ledger.ensure_accounts(sql, accounts)
        await ledger.record_journal(sql, spec)
        journal_id = spec.id
    now = clock.now()
    actor = audit.current_actor()
    await sql.run(
        _RESOLVE,
        break_id=break_id,
        action=action,
        why=reason,
        journal=journal_id,
        by=actor.name[:80],
        at=now,
    )
    await audit.record(
        sql,
        "reconciliation.break_resolved",
        target_type="reconciliation_break",
        target_id=break_id,
        details={"action": action, "reason": reason, "journal": journal_id, "type": view.type},
    )
    return await get_break(sql, break_id)


# -------------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class DailyReport:
    channel_id: str
    date: date
    run_id: str | None
    lines: int
    matched_count: int
    matched_amounts: dict[str, int]
    statement_net: dict[str, int]
    custody_difference: dict[str, int] | None
    breaks_by_type: dict[str, int]
    timing_closed: int
    open_breaks: int
    open_by_age: dict[str, int]
    open_difference: dict[str, int]


_OPEN_AS_OF = select(BREAKS.c.statement_date, BREAKS.c.currency, BREAKS.c.difference).where(
    BREAKS.c.channel_id == bindparam("channel"),
    BREAKS.c.status == "open",
    BREAKS.c.statement_date <= bindparam("day"),
)
_FOUND_ON = (
    select(BREAKS.c.type, func.count().label("n"))
    .where(BREAKS.c.run_id == bindparam("run_id"))
    .group_by(BREAKS.c.type)
)


async def daily_report(tx: AsyncSession | Sql, *, channel_id: str, day: date) -> DailyReport:
    """One channel's day: what its statement matched, the breaks it raised (by their type
    now: a timing break not closed by the next statement counts as missing), and every
    break still open on that day by age."""
    check_channel(channel_id)
    sql = await as_sql(tx)
    run = await sql.one(_RUN_OF_DAY, channel=channel_id, day=day)
    found = dict.fromkeys(BREAK_TYPES, 0)
    if run is not None:
        for r in await sql.all(_FOUND_ON, run_id=run["id"]):
            found[r["type"]] = int(r["n"])
    ages = {name: 0 for name, _, _ in AGEING}
    open_difference: dict[str, int] = {}
    n_open = 0
    for r in await sql.all(_OPEN_AS_OF, channel=channel_id, day=day):
        n_open += 1
        age = (day - r["statement_date"]).days
        for name, low, high in AGEING:
            if age >= low and (high is None or age <= high):
                ages[name] += 1
        cur = r["currency"]
        open_difference[cur] = open_difference.get(cur, 0) + int(r["difference"])
    return DailyReport(
        channel_id=channel_id,
        date=day,
        run_id=run["id"] if run else None,
        lines=int(run["lines"]) if run else 0,
        matched_count=int(run["matched_count"]) if run else 0,
        matched_amounts=dict(run["matched_amounts"]) if run else {},
        statement_net=dict(run["statement_net"]) if run else {},
        custody_difference=run["custody_difference"] if run else None,
        breaks_by_type=found,
        timing_closed=int(run["timing_closed"]) if run else 0,
        open_breaks=n_open,
        open_by_age=ages,
        open_difference=open_difference,
    )


def utc_today() -> date:
    return clock.now().astimezone(UTC).date()
