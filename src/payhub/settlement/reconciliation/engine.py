"""The matching engine: one channel's statement for one day against our books.

Our side is every approved capture, sale and refund attempt at the channel created that
day (UTC), plus the timing breaks earlier statements left open. In one transaction:

1. stage the statement (COPY on PostgreSQL) and sum it per currency and kind;
2. pass one, by reference (`queries`): the lines against the day's attempts on our
   request id (which the channel echoes) and kind, in one full join that returns only
   what does not simply match; the references listed on more than one line, found apart
   and read by index (a second line for the same attempt is a `duplicate`); a different
   amount or currency is an `amount_mismatch`; a line for an attempt of an earlier day
   either closes that day's timing break or, with none open, is a `duplicate` of a line
   already reconciled. The matched totals are the statement's sums less the few lines
   that do not match, so matched lines never leave the database;
3. pass two, by amount, currency and time: what pass one left on both sides (the breaks'
   size, not the statement's) is paired on kind, amount, currency and authorisation
   reference, the line within `window` after our attempt; only one-to-one pairs match;
4. whatever is left is a break: lines → `missing_in_ledger`; our attempts → `timing` when
   inside the late window before the cut-off (expected on the next statement), else
   `missing_on_statement`; an earlier timing break whose line did not come now becomes
   `missing_on_statement` (the same break, not a second one).
Each break carries the journal that would correct the ledger (not posted).

A payout rail's statement runs through the same steps: our side is then the payouts the
rail carried that we recorded paid (by the day they were sent) and the returns we recorded
(`queries.PAYOUT`), and its breaks' journals are `payout_proposals`'.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from payhub.channels.base import ChannelKind, StatementLine
from payhub.core import clock
from payhub.core.ids import new_id
from payhub.db.sql import Row, Sql, table_of
from payhub.payments.channels import get_channels
from payhub.settlement.reconciliation import queries
from payhub.settlement.reconciliation.models import ReconciliationBreak, ReconciliationRun
from payhub.settlement.reconciliation.payout_proposals import propose_payout
from payhub.settlement.reconciliation.proposals import propose, signed
from payhub.settlement.reconciliation.staging import LEFT, STAGE, TWICE, Stage

RUNS = table_of(ReconciliationRun)
BREAKS = table_of(ReconciliationBreak)
_INSERT_BREAKS = insert(BREAKS)

DEFAULT_LATE_WINDOW = timedelta(hours=1)
DEFAULT_MATCH_WINDOW = timedelta(minutes=30)
# How far back a statement line is looked for by reference: a line for an older movement
# is not ours to match (it is reported missing in the ledger).
LOOKBACK = timedelta(days=7)
SMALL_STATEMENT = 20_000
# Our attempt is committed just before the channel is asked: its line follows it, but
# clocks differ by a little.
_SKEW = timedelta(seconds=5)


@dataclass(slots=True)
class Outcome:
    """What one run found (its row holds the same, for later)."""

    run_id: str
    lines: int = 0
    matched_count: int = 0
    matched_amounts: dict[str, int] = field(default_factory=dict)
    statement_net: dict[str, int] = field(default_factory=dict)
    break_counts: dict[str, int] = field(default_factory=dict)
    timing_closed: int = 0
    escalated: int = 0
    breaks: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    # Seconds per phase, in the order they ran: where a slow run spends its time.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def breaks_found(self) -> int:
        return sum(self.break_counts.values())


@dataclass(slots=True)
class _Ours:
    attempt_id: str
    request_id: str
    kind: str
    amount: int
    currency: str
    at: datetime
    payment_id: str | None
    authorization_ref: str | None
    carried_break: str | None = None


class _Laps:
    """Wall-clock seconds of each phase of a run, lap by lap."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.at = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.into[phase] = self.into.get(phase, 0.0) + now - self.at
        self.at = now


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _journal(
    *,
    rail: bool,
    break_type: str,
    channel_id: str,
    kind: str,
    currency: str,
    difference: int,
    fee: int | None,
    line: Row | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The proposed journal of a break, and a note when the choice needs explaining."""
    if not rail:
        journal = propose(
            break_type=break_type,
            channel_id=channel_id,
            currency=currency,
            difference=difference,
            fee=fee,
        )
        return journal, None
    return propose_payout(
        break_type=break_type,
        rail_id=channel_id,
        kind=kind,
        currency=currency,
        difference=difference,
        payout_status=(line or {}).get("payout_status"),
        merchant_id=(line or {}).get("payout_merchant"),
    )


class _Breaks:
    def __init__(
        self, run_id: str, channel_id: str, day: date, now: datetime, *, rail: bool
    ) -> None:
        self.run_id, self.channel_id, self.day, self.now = run_id, channel_id, day, now
        self.rail = rail
        self.rows: list[Row] = []

    def add(
        self,
        break_type: str,
        *,
        kind: str,
        currency: str,
        occurred_at: datetime,
        line: Row | None = None,
        ours: _Ours | None = None,
        our_amount: int | None = None,
        note: str | None = None,
    ) -> None:
        theirs = signed(kind, int(line["amount"])) if line is not None else 0
        if ours is not None:
            our_amount = ours.amount
        mine = signed(kind, our_amount) if our_amount is not None else 0
        if break_type == "duplicate":
            difference = theirs  # the extra line, all of it
        elif break_type == "timing":
            difference = -mine
        else:
            difference = theirs - mine
        fee = int(line["fee"]) if line is not None else None
        journal, why = _journal(
            rail=self.rail,
            break_type=break_type,
            channel_id=self.channel_id,
            kind=kind,
            currency=currency,
            difference=difference,
            fee=fee,
            line=line,
        )
        note = "; ".join(n for n in (note, why) if n)[:300] or None
        self.rows.append(
            {
                "id": new_id("rcb"),
                "run_id": self.run_id,
                "channel_id": self.channel_id,
                "statement_date": self.day,
                "type": break_type,
                "status": "open",
                "kind": kind,
                "currency": currency,
                "line_no": int(line["line_no"]) if line is not None else None,
                "request_id": (line["request_id"] if line is not None else None)
                or (ours.request_id if ours is not None else None),
                "channel_ref": line["channel_ref"] if line is not None else None,
                "statement_amount": int(line["amount"]) if line is not None else None,
                "statement_fee": fee,
                "attempt_id": ours.attempt_id
                if ours is not None
                else (line or {}).get("attempt_id"),
                "payment_id": ours.payment_id
                if ours is not None
                else (line or {}).get("payment_id"),
                "ledger_amount": our_amount,
                "difference": difference,
                "occurred_at": occurred_at,
                "proposed_journal": journal,
                "note": note,
                "resolution": None,
                "reason": None,
                "journal_id": None,
                "resolved_by": None,
                "resolved_at": None,
                "closed_by_run_id": None,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )


async def reconcile(
    sql: Sql,
    *,
    run_id: str,
    channel_id: str,
    day: date,
    statement: Iterable[StatementLine] | bytes,
    late_window: timedelta = DEFAULT_LATE_WINDOW,
    match_window: timedelta = DEFAULT_MATCH_WINDOW,
) -> Outcome:
    """Match `statement` (the channel's statement for `day`: lines from any reader, or a
    CSV file as received) against our books and record the
    breaks, in the caller's transaction; the run's row must exist (the caller claims it)."""
    started = time.perf_counter()
    now = clock.now()
    start, end = day_bounds(day)
    outcome = Outcome(run_id=run_id)
    laps = _Laps(outcome.phases)
    rail = _is_rail(channel_id)
    side = queries.PAYOUT if rail else queries.CARD
    stage = Stage(sql, channel_id, currencies=_currencies_of(channel_id))
    await stage.open()
    try:
        if isinstance(statement, bytes):
            outcome.lines = await stage.load_csv(statement, channel_id=channel_id)
        else:
            outcome.lines = await stage.load(statement)
        if not stage.postgres:
            # SQLite joins by nested loops: the statement needs its reference indexed.
            await stage.index(STAGE, "request_id")
        laps.lap("stage")
        await stage.nested(True)  # a few open breaks, found by index
        carried = {
            (r["attempt_id"], r["kind"]): _Ours(
                attempt_id=r["attempt_id"],
                request_id=r["request_id"] or "",
                kind=r["kind"],
                amount=int(r["ledger_amount"] or 0),
                currency=r["currency"],
                at=r["occurred_at"],
                payment_id=r["payment_id"],
                authorization_ref=r["authorization_ref"],
                carried_break=r["break_id"],
            )
            for r in await stage.fetch(
                queries.CARRIED_BREAKS, times=("occurred_at",), channel=channel_id, day=day
            )
        }
        laps.lap("carried breaks")
        tally = _Tally()
        for r in await stage.fetch(queries.STATEMENT_TOTALS):
            tally.add_statement(r)
        laps.lap("statement totals")
        # Whole-statement hash joins for a big statement; index probes for a small one.
        await stage.nested(outcome.lines < SMALL_STATEMENT)
        by_reference = side.by_reference_postgres if stage.postgres else side.by_reference_sqlite
        lines_left: list[Row] = []
        referenced: list[Row] = []
        ours_left: list[_Ours] = []
        times = ("occurred_at", "our_at")
        rows = await stage.fetch(
            by_reference, times=times, channel=channel_id, start=start, end=end
        )
        laps.lap("pass one")
        await stage.fill(TWICE, queries.FIND_LISTED_TWICE)
        await stage.nested(True)  # a few lines, their attempts found by index
        seen = {r["line_no"] for r in rows}
        for r in await stage.fetch(
            side.listed_twice, times=times, channel=channel_id, start=start, end=end
        ):
            if r["line_no"] not in seen:
                rows.append(r)
        laps.lap("listed twice")
        for r in rows:
            if r["line_no"] is None:
                ours_left.append(_ours(r))
            elif r["attempt_id"] is None:
                lines_left.append(r)
            else:
                referenced.append(r)
        earlier = await _earlier_days(stage, side, lines_left, channel_id, start)
        referenced += earlier
        lines_left = [r for r in lines_left if r["attempt_id"] is None]
        if rail:
            await _payouts_named(stage, lines_left, channel_id)
        laps.lap("earlier days")

        breaks = _Breaks(run_id, channel_id, day, now, rail=rail)
        closed: set[str] = set()
        for m in _numbered(referenced):
            was = carried.get((m["attempt_id"], m["kind"]))
            m["carried_break"] = was.carried_break if was is not None else None
            if not _classify_exception(m, breaks, closed, start):
                tally.take_away(m)
        for line in lines_left:
            tally.take_away(line)
        ours_left += [c for c in carried.values() if c.carried_break not in closed]
        paired = _pass_two(lines_left, ours_left, match_window)
        for line, ours in paired:
            tally.put_back(line)
            if ours.carried_break is not None:
                closed.add(ours.carried_break)
        outcome.statement_net = tally.net
        outcome.matched_count, outcome.matched_amounts = tally.matched()
        used_lines = {id(line) for line, _ in paired}
        used_ours = {id(ours) for _, ours in paired}
        for line in lines_left:
            if id(line) not in used_lines:
                line["payment_id"] = line["line_payment_id"]  # the statement's, not ours
                breaks.add(
                    "missing_in_ledger",
                    kind=line["kind"],
                    currency=line["currency"],
                    occurred_at=line["occurred_at"],
                    line=line,
                )
        escalate: list[str] = []
        for ours in ours_left:
            if id(ours) in used_ours:
                continue
            if ours.carried_break is not None:
                escalate.append(ours.carried_break)
                continue
            late = ours.at >= end - late_window
            breaks.add(
                "timing" if late else "missing_on_statement",
                kind=ours.kind,
                currency=ours.currency,
                occurred_at=ours.at,
                ours=ours,
                note="expected on the next statement" if late else None,
            )
        laps.lap("pass two")
        if breaks.rows:
            await sql.run_many(_INSERT_BREAKS, breaks.rows)
        await _close_carried(sql, closed, run_id, now)
        await _escalate(sql, escalate, run_id, now, rail=rail)
        outcome.timing_closed = len(closed)
        outcome.escalated = len(escalate)
        counts: dict[str, int] = defaultdict(int)
        for row in breaks.rows:
            counts[row["type"]] += 1
        if escalate:
            counts["missing_on_statement"] += len(escalate)
        outcome.break_counts = dict(counts)
        outcome.breaks = breaks.rows
        laps.lap("breaks")
    finally:
        await stage.close()
    outcome.seconds = time.perf_counter() - started
    return outcome


def _is_rail(channel_id: str) -> bool:
    """Whether the channel is a payout rail (its statement lists payouts and returns)."""
    adapter = get_channels().get(channel_id)
    return adapter is not None and adapter.info.kind is ChannelKind.PAYOUT


def _currencies_of(channel_id: str) -> frozenset[str]:
    """The currencies the channel serves (none known for a channel not configured)."""
    adapter = get_channels().get(channel_id)
    return adapter.info.currencies if adapter is not None else frozenset()


def _ours(r: Row) -> _Ours:
    """An attempt of the day that no line names."""
    return _Ours(
        attempt_id=r["attempt_id"],
        request_id=r["our_request_id"],
        kind=r["our_kind"],
        amount=int(r["our_amount"] or 0),
        currency=r["our_currency"],
        at=r["our_at"],
        payment_id=r["payment_id"],
        authorization_ref=r["our_authorization_ref"],
    )


async def _earlier_days(
    stage: Stage, side: queries.Queries, lines_left: list[Row], channel_id: str, start: datetime
) -> list[Row]:
    """The lines left that name an attempt of an earlier day, with that attempt."""
    named = [(r["line_no"], r["request_id"], r["kind"]) for r in lines_left if r["request_id"]]
    if not named:
        return []
    await stage.insert_rows(LEFT, ("line_no", "request_id", "kind"), named)
    await stage.nested(True)  # a few lines, found by index
    found = []
    by_line = {r["line_no"]: r for r in lines_left}
    for r in await stage.fetch(
        side.earlier_days,
        times=("our_at",),
        channel=channel_id,
        since=start - LOOKBACK,
        start=start,
    ):
        line = by_line[r["line_no"]]
        line.update(r)
        found.append(line)
    return found


async def _payouts_named(stage: Stage, lines_left: list[Row], channel_id: str) -> None:
    """A payout rail's lines still unmatched that name one of its payouts (failed, or not
    yet answered): their payout's state and merchant, for the break's journal. The lines
    with a reference are in `recon_left` already (`_earlier_days`)."""
    if not any(r["request_id"] for r in lines_left):
        return
    by_line = {r["line_no"]: r for r in lines_left}
    for r in await stage.fetch(queries.PAYOUTS_NAMED, channel=channel_id):
        line = by_line.get(r["line_no"])
        if line is not None:
            line["payout_status"] = r["payout_status"]
            line["payout_merchant"] = r["payout_merchant"]


def _numbered(referenced: list[Row]) -> list[Row]:
    """Pairs by line order, each with `n`: which line of its attempt it is (a second
    line for one attempt is a duplicate; a payout and its return are two movements)."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    rows = sorted(referenced, key=lambda r: int(r["line_no"]))
    for r in rows:
        seen[(r["attempt_id"], r["kind"])] += 1
        r["n"] = seen[(r["attempt_id"], r["kind"])]
    return rows


class _Tally:
    """The statement's net and matched totals: the whole statement's sums, less the
    lines that do not match (a few), plus those pass two matches."""

    def __init__(self) -> None:
        self.net: dict[str, int] = {}
        self.count: dict[str, int] = defaultdict(int)
        self.amount: dict[str, int] = defaultdict(int)

    def add_statement(self, r: Row) -> None:
        cur, kind, amount, fee = r["currency"], r["kind"], int(r["amount"]), int(r["fee"])
        self.net[cur] = self.net.get(cur, 0) + signed(kind, amount) - fee
        self.count[cur] += int(r["n"])
        self.amount[cur] += signed(kind, amount)

    def take_away(self, line: Row) -> None:
        self.count[line["currency"]] -= 1
        self.amount[line["currency"]] -= signed(line["kind"], int(line["amount"]))

    def put_back(self, line: Row) -> None:
        self.count[line["currency"]] += 1
        self.amount[line["currency"]] += signed(line["kind"], int(line["amount"]))

    def matched(self) -> tuple[int, dict[str, int]]:
        """How many lines matched, and their signed sum per currency."""
        seen = [cur for cur in sorted(self.count) if self.count[cur] > 0]
        return sum(self.count[c] for c in seen), {c: self.amount[c] for c in seen}


def _classify_exception(m: Row, breaks: _Breaks, closed: set[str], start: datetime) -> bool:
    """A line pass one paired by reference: its break, if any; whether it matched."""
    carried = m["carried_break"]
    ours_amount = int(m["our_amount"] or 0)
    common: dict[str, Any] = {
        "kind": m["kind"],
        "currency": m["currency"],
        "occurred_at": m["occurred_at"],
        "line": m,
        "our_amount": ours_amount,
    }
    if int(m["n"]) > 1:
        breaks.add("duplicate", **common, note="listed more than once on this statement")
        return False
    if carried is not None:
        closed.add(carried)  # the late line came: the timing break is over
    elif m["our_at"] < start:
        breaks.add("duplicate", **common, note="already reconciled on an earlier statement")
        return False
    if (
        m["our_amount"] is None
        or int(m["amount"]) != ours_amount
        or m["currency"] != m["our_currency"]
    ):
        breaks.add("amount_mismatch", **common)
        return False
    return True


def _pass_two(lines: list[Row], ours: list[_Ours], window: timedelta) -> list[tuple[Row, _Ours]]:
    """One-to-one pairs by kind, amount, currency and authorisation reference, the line
    within `window` after our attempt."""
    by_key: dict[tuple[str, int, str], list[_Ours]] = defaultdict(list)
    for o in ours:
        by_key[(o.kind, o.amount, o.currency)].append(o)
    candidates: dict[int, list[_Ours]] = {}
    claimed: dict[int, int] = defaultdict(int)
    for i, line in enumerate(lines):
        found = [
            o
            for o in by_key.get((line["kind"], int(line["amount"]), line["currency"]), ())
            if (
                line["authorization_ref"] is None
                or line["authorization_ref"] == o.authorization_ref
            )
            and o.at - _SKEW <= line["occurred_at"] < o.at + window
        ]
        candidates[i] = found
        for o in found:
            claimed[id(o)] += 1
    return [
        (lines[i], found[0])
        for i, found in candidates.items()
        if len(found) == 1 and claimed[id(found[0])] == 1
    ]


_CLOSE = (
    update(BREAKS)
    .where(BREAKS.c.id == bindparam("break_id"), BREAKS.c.status == "open")
    .values(
        status="resolved",
        resolution="auto_closed",
        reason="the line appeared on a later statement",
        closed_by_run_id=bindparam("by_run"),
        resolved_at=bindparam("at"),
        resolved_by="system",
        updated_at=bindparam("at"),
    )
)
_ESCALATE = (
    update(BREAKS)
    .where(BREAKS.c.id == bindparam("break_id"), BREAKS.c.status == "open")
    .values(
        type="missing_on_statement",
        note=bindparam("why"),
        proposed_journal=bindparam("journal"),
        updated_at=bindparam("at"),
    )
)
_BREAK = select(BREAKS).where(BREAKS.c.id == bindparam("break_id"))


async def _close_carried(sql: Sql, ids: set[str], run_id: str, now: datetime) -> None:
    for break_id in sorted(ids):
        await sql.run(_CLOSE, break_id=break_id, by_run=run_id, at=now)


async def _escalate(sql: Sql, ids: list[str], run_id: str, now: datetime, *, rail: bool) -> None:
    for break_id in sorted(ids):
        row = await sql.one(_BREAK, break_id=break_id)
        assert row is not None
        journal, note = _journal(
            rail=rail,
            break_type="missing_on_statement",
            channel_id=row["channel_id"],
            kind=row["kind"],
            currency=row["currency"],
            difference=int(row["difference"]),
            fee=None,
        )
        why = "; ".join(n for n in (f"not on the next statement either (run {run_id})", note) if n)[
            :300
        ]
        await sql.run(_ESCALATE, break_id=break_id, why=why, journal=journal, at=now)
