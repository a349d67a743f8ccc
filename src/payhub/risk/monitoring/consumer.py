"""Monitoring the platform's own traffic: outbox events in, stored alerts out.

The engine (`Monitor`) is pure and in memory; this module feeds it every money-moving
event of the outbox, in id order, after a cursor kept in `risk_monitor_cursor`, and stores
what it finds as `monitoring` alerts (docs/aml.md, "Monitoring the platform's own
traffic").

- **One writer.** A batch is read, observed, its alerts stored and the cursor advanced in
  one transaction that holds the cursor row's lock (`FOR UPDATE SKIP LOCKED` on
  PostgreSQL: a second worker skips the round instead of waiting; SQLite has one writer).
  The cursor only moves from the value this process last saw, so each event is processed
  exactly once however many workers run.
- **The graph is per process.** A process that has not seen the history up to the cursor
  (its first run, or another process advanced the cursor since) first replays the last
  `retention` of events into a fresh or lagging monitor, with alerts dropped: they were
  stored when those events were first processed. Only then does it advance the cursor. So
  any number of workers is safe, but the one doing the work holds the graph: workers that
  take turns each replay what the others did.
- **Settled events only.** An event's id is taken when it is written, its row is seen
  when its transaction commits; events younger than `settle` are left for the next round,
  so one committed a moment late is not stepped over. (`skipped` in the status says
  whether that ever fell short.)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.ids import id_floor
from payhub.db.session import Database
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.events.models import Event
from payhub.payments.movements import moved_for
from payhub.risk.cases import alerts as stored
from payhub.risk.decisions.models import RiskDecision
from payhub.risk.monitoring.alerts import Alert
from payhub.risk.monitoring.engine import Monitor, MonitorConfig
from payhub.risk.monitoring.graph import Transaction
from payhub.risk.monitoring.models import RiskMonitorCursor
from payhub.risk.monitoring.outflows import OUTFLOW_EVENTS, outflow_edges

log = logging.getLogger("payhub.risk.monitoring")

# The events that move money, and so become edges of the graph: payments and refunds;
# withdrawals paid or returned and split batches booked (`outflows`).
MONEY_EVENTS = ("payment.succeeded", "payment.captured", "refund.succeeded", *OUTFLOW_EVENTS)
CURSOR = "outbox"
SETTLE = timedelta(seconds=2)
BATCH = 500
REPLAY_PAGE = 2000
# A revised alert already in a case or closed continues as a follow-up alert; at most
# this many links per finding (each link is one stretch an officer took up).
MAX_LINKS = 20

_EVENTS = table_of(Event)
_DECISIONS = table_of(RiskDecision)
_CURSORS = table_of(RiskMonitorCursor)
_PAYMENT_ID = _EVENTS.c.data[("object", "id")].as_string()
_IS_MONEY = or_(*(_EVENTS.c.type == t for t in MONEY_EVENTS))  # equalities: fast path

# Money-moving events in (after, upto], oldest first, with what the payment's risk
# decision knew of the payer: the card's fingerprint and where the payment came from.
_FEED = (
    select(
        _EVENTS.c.id,
        _EVENTS.c.type,
        _EVENTS.c.merchant_id,
        _EVENTS.c.data,
        _EVENTS.c.created_at,
        _DECISIONS.c.card_fingerprint,
        _DECISIONS.c.latitude,
        _DECISIONS.c.longitude,
    )
    .select_from(_EVENTS.outerjoin(_DECISIONS, _DECISIONS.c.payment_id == _PAYMENT_ID))
    .where(_IS_MONEY, _EVENTS.c.id > bindparam("after"), _EVENTS.c.id <= bindparam("upto"))
    .order_by(_EVENTS.c.id)
    .limit(bindparam("limit"))
)
_COUNT_BETWEEN = (
    select(func.count())
    .select_from(_EVENTS)
    .where(_IS_MONEY, _EVENTS.c.id > bindparam("after"), _EVENTS.c.id <= bindparam("upto"))
)
# The newest event older than the settle time: the bound of a round. (Its time, not its
# id's: ids stay monotonic in a process whose clock went back, so they may run ahead.)
_SETTLED = (
    select(_EVENTS.c.id)
    .where(_EVENTS.c.created_at <= bindparam("before"))
    .order_by(_EVENTS.c.id.desc())
    .limit(1)
)
_PEEK = select(_CURSORS).where(_CURSORS.c.id == CURSOR)
_LOCK = select(_CURSORS).where(_CURSORS.c.id == CURSOR).with_for_update(skip_locked=True)
_NEW_CURSOR = {
    "id": CURSOR,
    "last_event_id": None,
    "last_event_at": None,
    "events": 0,
    "transactions": 0,
    "alerts_raised": 0,
    "alerts_revised": 0,
}
_CREATE = {
    "postgresql": pg_insert(_CURSORS).on_conflict_do_nothing(index_elements=["id"]),
    "sqlite": sqlite_insert(_CURSORS).on_conflict_do_nothing(index_elements=["id"]),
}
# Compare-and-set: the cursor moves only from where this process found it.
_ADVANCE = (
    update(_CURSORS)
    .where(
        _CURSORS.c.id == CURSOR,
        func.coalesce(_CURSORS.c.last_event_id, "") == bindparam("seen"),
    )
    .values(
        last_event_id=bindparam("to_id"),
        last_event_at=bindparam("to_at"),
        events=_CURSORS.c.events + bindparam("more_events"),
        transactions=_CURSORS.c.transactions + bindparam("more_transactions"),
        alerts_raised=_CURSORS.c.alerts_raised + bindparam("more_raised"),
        alerts_revised=_CURSORS.c.alerts_revised + bindparam("more_revised"),
        updated_at=bindparam("now"),
    )
)

Progress = Callable[[int, int], None]  # (events replayed, events to replay)
T = TypeVar("T")


class CursorMoved(Exception):  # noqa: N818 - a signal between two steps, not an error
    """Another process advanced the cursor between this one's read and its write."""


# ------------------------------------------------------------------------ events to edges


def _party(data: dict[str, Any], fingerprint: str | None) -> str:
    """Who paid: the customer; without one the card (its fingerprint, which follows the
    card across merchants and tokens; else its vault token)."""
    payment = data.get("object") or {}
    if payment.get("customer"):
        return str(payment["customer"])
    if fingerprint:
        return f"fp:{fingerprint}"
    return str(payment.get("payment_method") or f"payment:{payment.get('id')}")


def subject_of(party: str) -> tuple[stored.SubjectType, str]:
    """A graph node as an alert's subject (a card by its fingerprint, as in-line alerts)."""
    if party.startswith("cus_"):
        return "customer", party
    if party.startswith("mer_"):
        return "merchant", party
    if party.startswith("fp:"):
        return "card", party[3:]
    if party.startswith("card_"):
        return "card", party
    return "account", party


async def _captured_now(sql: Sql, payment_id: str, captured: int) -> int:
    """What a later capture moved: the event holds the running total, the capture whose
    approved attempts add up to it is this one."""
    total = 0
    for movement in await moved_for(sql, payment_id):
        if movement.kind != "payment":
            continue
        total += movement.amount
        if total == captured:
            return movement.amount
    return captured


async def transaction_of(sql: Sql, row: Row) -> Transaction | None:
    """The edge of a money-moving event (None for one that moved nothing)."""
    data: dict[str, Any] = row["data"] or {}
    payment = data.get("object") or {}
    merchant = str(row["merchant_id"] or payment.get("merchant") or "")
    payer = _party(data, row["card_fingerprint"])
    at = row["created_at"].astimezone(UTC)
    if row["type"] == "refund.succeeded":
        refund = data.get("refund") or {}
        if not refund.get("id") or not refund.get("amount"):
            return None
        return Transaction(
            id=str(refund["id"]),
            at=at,
            source=merchant,
            target=payer,
            amount=int(refund["amount"]),
            currency=str(refund.get("currency") or payment.get("currency")),
            kind="refund",
            channel="card",
        )
    captured = int(payment.get("amount_captured") or 0)
    if row["type"] == "payment.captured":
        captured = await _captured_now(sql, str(payment["id"]), captured)
    if captured <= 0 or not payment.get("id"):
        return None
    located = row["latitude"] is not None and row["longitude"] is not None
    return Transaction(
        id=str(payment["id"]),
        at=at,
        source=payer,
        target=merchant,
        amount=captured,
        currency=str(payment.get("currency")),
        kind="payment",
        channel="card",
        latitude=float(row["latitude"]) if located else None,
        longitude=float(row["longitude"]) if located else None,
    )


async def transactions_of(sql: Sql, row: Row) -> list[Transaction]:
    """The edges of a money-moving event: one for a payment or a refund, one per line for
    a split batch (none for one that moved nothing)."""
    if row["type"] in OUTFLOW_EVENTS:
        at = row["created_at"].astimezone(UTC)
        return await outflow_edges(sql, row["type"], row["data"] or {}, at)
    tx = await transaction_of(sql, row)
    return [] if tx is None else [tx]


def alert_key(typology: str, subject: str, transaction_id: str) -> str:
    """The stored alert's dedup key: the finding (typology, subject) and the transaction
    that raised it, the same in every process that replays the same events."""
    key = f"monitoring:{typology}:{subject}:{transaction_id}"
    if len(key) <= 180:
        return key
    return "monitoring:" + hashlib.sha256(key.encode()).hexdigest()[:40]


# ------------------------------------------------------------------------------ the consumer


@dataclass(frozen=True, slots=True)
class Round:
    """What one call of `MonitorConsumer.run` did."""

    events: int = 0  # events processed and the cursor advanced over
    transactions: int = 0
    alerts_raised: int = 0
    alerts_revised: int = 0
    replayed: int = 0  # events replayed into the graph (no alerts)
    skipped: bool = False  # another process held the cursor


@dataclass(slots=True)
class _Tally:
    events: int = 0
    transactions: int = 0
    raised: int = 0
    revised: int = 0
    replayed: int = 0


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    at: datetime
    txs: list[Transaction]  # empty: the event moved nothing


@dataclass(slots=True)
class _Known:
    key: str  # the stored alert's dedup key (the first link)
    until: datetime  # the monitor's cool-down: after it the id is never revised again
    replayed: bool  # opened during a replay: stored under this key only if replayed alike


class MonitorConsumer:
    """The monitor of one process over the outbox. `run` processes what is new."""

    def __init__(
        self,
        db: Database,
        config: MonitorConfig | None = None,
        *,
        batch: int = BATCH,
        settle: timedelta = SETTLE,
    ) -> None:
        self.db = db
        self.config = config or MonitorConfig()
        self.batch = batch
        self.settle = settle
        self.monitor: Monitor | None = None
        self.seen = ""  # the last event the monitor was fed ("" none); the cursor when in step
        self._known: dict[str, _Known] = {}  # monitor alert id → where it is stored

    # -- a round -------------------------------------------------------------------------

    async def run(self, *, on_replay: Progress | None = None) -> Round:
        """Process every settled money-moving event after the cursor. Another process
        holding the cursor makes this a no-op (`skipped`)."""
        tally = _Tally()
        try:
            for _ in range(1000):  # bounded: a cursor moving under us every time is a bug
                cursor = await self.db.transact(self._peek)
                if self.monitor is None or self.seen != cursor:
                    tally.replayed += await self._catch_up(cursor, on_replay)
                try:
                    done = await self._in_session(lambda sql: self._advance(sql, tally), attempts=1)
                except CursorMoved:
                    continue
                if done is None:
                    return self._round(tally, skipped=True)
                if done < self.batch:
                    break
        except BaseException:
            # What the monitor observed may not have been committed: start it afresh.
            self.monitor = None
            raise
        return self._round(tally)

    @staticmethod
    def _round(t: _Tally, *, skipped: bool = False) -> Round:
        return Round(t.events, t.transactions, t.raised, t.revised, t.replayed, skipped)

    async def _peek(self, sql: Sql) -> str:
        row = await sql.one(_PEEK)
        return str(row["last_event_id"] or "") if row is not None else ""

    # -- catching up ---------------------------------------------------------------------

    async def _catch_up(self, through: str, on_replay: Progress | None) -> int:
        """Bring the graph to the cursor without raising alerts: feed the lagging monitor
        what others processed, or rebuild it from the last `retention` of events."""
        if self.monitor is None or not self.seen or self.seen > through:
            self.monitor = Monitor(self.config)
            self._known.clear()
            self.seen = ""
            if not through:
                return 0
            after = id_floor("evt", await self._replay_start())
        else:
            after = self.seen
        total = int(
            await self.db.transact(lambda s: s.value(_COUNT_BETWEEN, after=after, upto=through))
        )
        done = 0
        if on_replay is not None:
            on_replay(0, total)
        while True:
            page = await self._in_session(
                lambda s, a=after: self._read(s, a, through, REPLAY_PAGE)  # type: ignore[misc]
            )
            for event in page:
                for tx in event.txs:
                    self._observe(tx, replay=True)
            done += len(page)
            if on_replay is not None:
                on_replay(done, max(total, done))
            if len(page) < REPLAY_PAGE:
                break
            after = page[-1].id
        self.seen = through
        return done

    async def _replay_start(self) -> datetime:
        """The retention before the cursor's last event (or now)."""

        async def at(sql: Sql) -> datetime | None:
            row = await sql.one(_PEEK)
            return row["last_event_at"] if row is not None else None

        last = await self.db.transact(at)
        return (last or clock.now()) - self.config.retention

    async def _in_session(self, work: Callable[[Sql], Awaitable[T]], *, attempts: int = 5) -> T:
        """`work` in an ORM session's transaction: payout and split events are read through
        those modules' services, which take a session."""

        async def run(session: AsyncSession) -> T:
            return await work(await Sql.of(session))

        return await self.db.run_in_transaction(run, attempts=attempts)

    async def _read(self, sql: Sql, after: str, upto: str, limit: int) -> list[_Event]:
        rows = await sql.all(_FEED, after=after, upto=upto, limit=limit)
        return [_Event(str(r["id"]), r["created_at"], await transactions_of(sql, r)) for r in rows]

    # -- advancing -----------------------------------------------------------------------

    async def _advance(self, sql: Sql, tally: _Tally) -> int | None:
        """One batch after the cursor, under its lock: events processed, None when another
        process holds the cursor. Raises `CursorMoved` when the cursor is not where this
        process's graph is."""
        row = await sql.one(_LOCK)
        if row is None:
            # The first round ever (or the row is locked: then the insert does nothing).
            create = _CREATE["postgresql" if sql.is_postgres else "sqlite"]
            await sql.run(create, **_NEW_CURSOR, updated_at=clock.now())
            row = await sql.one(_LOCK)
            if row is None:
                return None
        if str(row["last_event_id"] or "") != self.seen:
            raise CursorMoved
        upto = await sql.value(_SETTLED, before=clock.now() - self.settle)
        if upto is None:
            return 0
        page = await self._read(sql, self.seen, str(upto), self.batch)
        if not page:
            return 0
        monitor = self.monitor
        assert monitor is not None
        raised = revised = observed = 0
        for event in page:
            for tx in event.txs:
                observed += 1
                for alert in self._observe(tx, replay=False):
                    r, v = await self._store(sql, alert)
                    raised, revised = raised + r, revised + v
        last = page[-1]
        moved = await sql.run(
            _ADVANCE,
            seen=self.seen,
            to_id=last.id,
            to_at=last.at,
            more_events=len(page),
            more_transactions=observed,
            more_raised=raised,
            more_revised=revised,
            now=clock.now(),
        )
        if moved != 1:
            # Rolls back this batch's alerts; the graph observed the batch, so it is rebuilt.
            self.monitor = None
            raise CursorMoved
        self.seen = last.id
        tally.events += len(page)
        tally.transactions += observed
        tally.raised += raised
        tally.revised += revised
        return len(page)

    def _observe(self, tx: Transaction, *, replay: bool) -> list[Alert]:
        assert self.monitor is not None
        alerts = self.monitor.observe(tx)
        for alert in alerts:
            if alert.revision == 1 or alert.id not in self._known:
                self._known[alert.id] = _Known(
                    alert_key(alert.typology, alert.subject, tx.id),
                    alert.raised_at + self.config.cooldown,
                    replay,
                )
        if len(self._known) > 10_000:
            now = self.monitor.graph.now
            self._known = {k: v for k, v in self._known.items() if v.until > now}
        return alerts

    # -- storing -------------------------------------------------------------------------

    async def _store(self, sql: Sql, alert: Alert) -> tuple[int, int]:
        """(raised, revised) by storing one alert the monitor returned."""
        known = self._known[alert.id]
        if alert.revision == 1:
            await self._raise(sql, alert, known.key, list(alert.transaction_ids))
            return 1, 0
        if known.replayed and await stored.alert_by_key(sql, known.key) is None:
            # Opened during a replay at another transaction than first time round (the
            # replay starts with less history): find the stored one by what it is about.
            found = await self._stored_alike(sql, alert)
            if found is not None:
                known.key = found
            known.replayed = False
        taken: set[str] = set()
        for link in range(1, MAX_LINKS + 1):
            key = known.key if link == 1 else f"{known.key}~{link}"
            ids = [t for t in alert.transaction_ids if t not in taken]
            current = await stored.alert_by_key(sql, key)
            if current is None:
                if not ids:
                    return 0, 0
                await self._raise(sql, alert, key, ids, follows=link > 1)
                return 1, 0
            if current.status == "open":
                revised = await stored.revise_alert(
                    sql,
                    dedup_key=key,
                    revision=current.revision + 1,
                    score=alert.score,
                    explanation=_explanation(alert, follows=link > 1),
                    transaction_ids=ids[-stored.MAX_TRANSACTIONS :],
                    evidence=_evidence(alert),
                )
                return 0, 1 if revised is not None else 0
            taken.update(current.transaction_ids)
        log.warning("monitoring alert %s has %d follow-ups already", known.key, MAX_LINKS)
        return 0, 0

    async def _stored_alike(self, sql: Sql, alert: Alert) -> str | None:
        _, subject_id = subject_of(alert.subject)
        mine = set(alert.transaction_ids)
        for candidate in await stored.alerts_of_subject(
            sql, source="monitoring", subject_id=subject_id, typology=alert.typology
        ):
            if candidate.dedup_key and mine & set(candidate.transaction_ids):
                return candidate.dedup_key.split("~", 1)[0]
        return None

    async def _raise(
        self, sql: Sql, alert: Alert, key: str, ids: list[str], *, follows: bool = False
    ) -> None:
        subject_type, subject_id = subject_of(alert.subject)
        await stored.raise_alert(
            sql,
            source="monitoring",
            typology=alert.typology,
            subject_type=subject_type,
            subject_id=subject_id,
            score=alert.score,
            explanation=_explanation(alert, follows=follows),
            transaction_ids=ids[-stored.MAX_TRANSACTIONS :],
            evidence=_evidence(alert),
            dedup_key=key,
        )


def _explanation(alert: Alert, *, follows: bool) -> str:
    text = alert.explanation
    if follows:
        text = "Continues an alert already in a case: " + text
    return text[:2000]


def _evidence(alert: Alert) -> dict[str, Any]:
    evidence: dict[str, Any] = alert.as_dict()["evidence"]
    return evidence


# ------------------------------------------------------------------------------ the status


@dataclass(frozen=True, slots=True)
class MonitoringStatus:
    cursor: str | None  # the last event processed
    cursor_at: datetime | None
    money_events: int  # money-moving events in the outbox
    events_processed: int
    transactions_observed: int
    alerts_raised: int
    alerts_revised: int
    lag_events: int  # money-moving events after the cursor
    lag_seconds: float  # how long the oldest of them has waited
    # Money-moving events at or before the cursor that were not processed (committed
    # after the cursor had passed their id): 0 unless the settle time fell short.
    skipped: int
    updated_at: datetime | None

    @property
    def coverage(self) -> float:
        """Processed ÷ money-moving events (1.0 when there are none)."""
        return 1.0 if self.money_events == 0 else self.events_processed / self.money_events


_MONEY_COUNT = select(func.count()).select_from(_EVENTS).where(_IS_MONEY)
_BEHIND = select(func.count()).select_from(_EVENTS).where(_IS_MONEY, _EVENTS.c.id <= bindparam("c"))
_OLDEST_AFTER = select(func.min(_EVENTS.c.created_at)).where(
    _IS_MONEY, _EVENTS.c.id > bindparam("c")
)


async def status(tx: Any) -> MonitoringStatus:
    """Where the monitor is over the outbox (counts over the whole outbox: for a status
    page, not a hot path)."""
    sql = await as_sql(tx)
    row = await sql.one(_PEEK)
    cursor = str(row["last_event_id"]) if row is not None and row["last_event_id"] else ""
    total = int(await sql.value(_MONEY_COUNT) or 0)
    behind = int(await sql.value(_BEHIND, c=cursor) or 0) if cursor else 0
    oldest = await sql.value(_OLDEST_AFTER, c=cursor)
    processed = int(row["events"]) if row is not None else 0
    lag = (clock.now() - oldest).total_seconds() if oldest is not None else 0.0
    return MonitoringStatus(
        cursor=cursor or None,
        cursor_at=row["last_event_at"] if row is not None else None,
        money_events=total,
        events_processed=processed,
        transactions_observed=int(row["transactions"]) if row is not None else 0,
        alerts_raised=int(row["alerts_raised"]) if row is not None else 0,
        alerts_revised=int(row["alerts_revised"]) if row is not None else 0,
        lag_events=total - behind,
        lag_seconds=max(0.0, lag),
        skipped=max(0, behind - processed),
        updated_at=row["updated_at"] if row is not None else None,
    )
