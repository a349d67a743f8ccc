"""The posting engine: every journal, hold, hold posting and reversal goes through here.

For a batch of journals, in one database transaction:
1. check each journal on its own (shape, amounts, currencies, balance per currency);
2. resolve the accounts and lock their balance rows in one fixed order (account id, then
   shard), so concurrent writers queue instead of deadlocking; a hot account contributes
   one shard that no one else holds (SKIP LOCKED), so it does not serialise writers;
3. find journal ids that already exist: same content → duplicate, else a conflict;
4. apply the journals one by one (linked chains together) to the locked totals in memory,
   refusing any that would break an account's limit;
5. write the accepted journals, their entries and the new totals in a few statements.
The row locks make step 4's view the truth until commit; PostgreSQL re-checks the balance
of every journal at commit with a deferred constraint trigger.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_client_id, is_id, new_id
from payhub.core.metadata import validate_metadata
from payhub.core.money import MAX_MINOR, check_amount, check_currency
from payhub.db.pg import session_connection
from payhub.ledger.domain import (
    EntryView,
    JournalKind,
    JournalSpec,
    JournalView,
    PostingSpec,
    Side,
)
from payhub.ledger.store import Acct, AsyncpgStore, Pins, Row, SqlAlchemyStore, Store, Writes

MAX_BATCH = 1000
# Refusals that depend on balances, which a concurrent writer may have changed.
LIMIT_ERRORS = frozenset({"insufficient_funds", "exceeds_debits", "amount_too_large"})
MAX_POSTINGS = 100


@dataclass(slots=True)
class Line:
    account: Acct
    shard: int
    side: Side
    amount: int


@dataclass(slots=True)
class Work:
    """One journal on its way through the engine."""

    index: int
    kind: JournalKind
    spec: JournalSpec
    id: str = ""
    client_id: bool = False
    reverses_journal_id: str | None = None
    hold_id: str | None = None
    expires_at: datetime | None = None
    # Pending lines a hold posting releases (the hold's own entries).
    release: list[Line] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    content_hash: str = ""
    status: str = "new"  # new → created | duplicate | rejected
    error: PayHubError | None = None
    view: JournalView | None = None

    @property
    def live(self) -> bool:
        return self.error is None and self.status == "new"

    def reject(self, error: PayHubError) -> None:
        self.status, self.error = "rejected", error


def validate_spec(spec: JournalSpec) -> None:
    """Everything that can be checked without the database."""
    if spec.id is not None and not is_client_id(spec.id):
        raise PayHubError("invalid_id", param="id")
    if spec.description is not None and len(spec.description) > 500:
        raise PayHubError("validation_error", param="description", detail="at most 500 characters")
    validate_metadata(spec.metadata)
    if len(spec.postings) < 2:
        raise PayHubError("journal_too_few_postings", param="postings")
    if len(spec.postings) > MAX_POSTINGS:
        raise PayHubError(
            "validation_error", param="postings", detail=f"at most {MAX_POSTINGS} postings"
        )
    totals: dict[str, int] = defaultdict(int)
    for i, posting in enumerate(spec.postings):
        param = f"postings[{i}]"
        if not isinstance(posting.account, str) or not posting.account:
            raise PayHubError("validation_error", param=f"{param}.account", detail="required")
        check_amount(posting.amount, param=f"{param}.amount")
        check_currency(posting.currency, param=f"{param}.currency")
        side = Side(posting.side)
        totals[posting.currency] += posting.amount if side is Side.DEBIT else -posting.amount
    for currency, net in sorted(totals.items()):
        if net != 0:
            raise PayHubError("journal_unbalanced", param="postings", currency=currency)


def _content_hash(work: Work) -> str:
    """What makes two posts of the same journal id the same journal."""
    body = {
        "kind": work.kind,
        "postings": [[ln.account.id, ln.side.value, ln.amount] for ln in work.lines],
        "description": work.spec.description,
        "metadata": work.spec.metadata,
        "reverses": work.reverses_journal_id,
        "hold": work.hold_id,
        "expires_at": work.expires_at.isoformat() if work.expires_at else None,
    }
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Engine:
    """Posts a list of Work items in the caller's transaction."""

    def __init__(
        self,
        session: AsyncSession | None = None,
        *,
        connection: Any = None,
        pins: Pins | None = None,
    ) -> None:
        self.session = session
        self.connection = connection
        # Hot-account shards the caller needs (a hold's release must hit its own shard).
        self.pins = pins or {}
        self.by_id: dict[str, Acct] = {}
        self.by_code: dict[tuple[str, str], Acct] = {}
        self.rows: dict[tuple[str, int], Row] = {}
        self.hot_shard: dict[str, int] = {}
        self.existing: dict[str, str] = {}

    async def _store(self) -> Store:
        if self.connection is not None:
            return AsyncpgStore(self.connection)
        assert self.session is not None
        if self.session.get_bind().dialect.name == "postgresql":
            return AsyncpgStore(await session_connection(self.session))
        return SqlAlchemyStore(self.session)

    async def run(self, works: list[Work]) -> list[Work]:
        store = await self._store()
        self._validate(works)
        await self._lock(store, works)
        self._resolve(works)
        self._classify_existing(works)
        self._apply(works)
        await self._recheck_refused(store, works)
        await self._write(store, works)
        return works

    async def _recheck_refused(self, store: Store, works: list[Work]) -> None:
        """A journal refused for a limit may be a repeat that a concurrent transaction
        committed while we waited for the locks (the lock query's snapshot predates the
        wait). Look again, now that the locks are held, and answer as a repeat if so."""
        suspects = [
            w
            for w in works
            if w.client_id and w.status == "rejected" and w.error and w.error.code in LIMIT_ERRORS
        ]
        if not suspects:
            return
        found = await store.journal_hashes([w.id for w in suspects])
        for work in suspects:
            if work.id in found:
                work.status, work.error = "new", None
                self.existing[work.id] = found[work.id]
        self._classify_existing(suspects)

    async def release(self, lines: list[Line]) -> None:
        """Give back what a hold reserved (void, expiry): lower the pending totals."""
        store = await self._store()
        carrier = Work(index=0, kind="hold", spec=JournalSpec(postings=()), release=lines)
        carrier.status = "release"
        await self._lock(store, [carrier])
        for line in lines:
            row = self.rows[(line.account.id, line.shard)]
            if line.side is Side.DEBIT:
                row.debits_pending -= line.amount
            else:
                row.credits_pending -= line.amount
            row.dirty = True
        await store.write(Writes([], [], [], [r for r in self.rows.values() if r.dirty]))

    # 1. shape
    def _validate(self, works: list[Work]) -> None:
        seen: set[str] = set()
        for work in works:
            if not work.live:
                continue
            try:
                validate_spec(work.spec)
            except PayHubError as error:
                work.reject(error)
                continue
            if work.spec.id is None:
                work.id = new_id("hold" if work.kind == "hold" else "jrn")
            else:
                work.id, work.client_id = work.spec.id, True
                if work.id in seen:
                    work.reject(
                        PayHubError(
                            "validation_error", param="id", detail="the same id twice in one batch"
                        )
                    )
                seen.add(work.id)
        if works and works[-1].spec.linked and works[-1].live:
            works[-1].reject(
                PayHubError(
                    "validation_error", param="linked", detail="the last journal cannot link on"
                )
            )

    # 2. accounts, locks, existing ids
    async def _lock(self, store: Store, works: list[Work]) -> None:
        ids: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        for work in works:
            for line in work.release:
                ids.add(line.account.id)
            if not work.live:
                continue
            for posting in work.spec.postings:
                if is_id(posting.account, "acct"):
                    ids.add(posting.account)
                else:
                    pairs.add((posting.account, posting.currency))
        journal_ids = [w.id for w in works if w.live and w.client_id]
        locked = await store.lock(ids, pairs, self.pins, journal_ids)
        for acct in locked.accounts:
            self.by_id[acct.id] = acct
            self.by_code[(acct.code, acct.currency)] = acct
        for row in locked.rows:
            self.rows[(row.account.id, row.shard)] = row
            if row.account.shards > 1:
                self.hot_shard[row.account.id] = row.shard
        self.existing = locked.existing

    def _resolve(self, works: list[Work]) -> None:
        for work in works:
            if not work.live:
                continue
            try:
                work.lines = [self._line(p) for p in work.spec.postings]
            except PayHubError as error:
                work.reject(error)
                continue
            work.content_hash = _content_hash(work)

    def _line(self, posting: PostingSpec) -> Line:
        if is_id(posting.account, "acct"):
            acct = self.by_id.get(posting.account)
            if acct is None:
                raise PayHubError("account_not_found", param="account", account=posting.account)
            if acct.currency != posting.currency:
                raise PayHubError(
                    "currency_mismatch",
                    param="currency",
                    detail=f"account {acct.code} holds {acct.currency}, not {posting.currency}",
                )
        else:
            found = self.by_code.get((posting.account, posting.currency))
            if found is None:
                raise PayHubError(
                    "account_not_found",
                    param="account",
                    account=f"{posting.account} ({posting.currency})",
                )
            acct = found
        shard = self.hot_shard.get(acct.id, 0)
        return Line(acct, shard, Side(posting.side), posting.amount)

    # 3. repeats of existing journals
    def _classify_existing(self, works: list[Work]) -> None:
        for work in works:
            if not work.live or work.id not in self.existing:
                continue
            if self.existing[work.id] == work.content_hash:
                work.status = "duplicate"
            else:
                work.reject(PayHubError("journal_conflict", param="id", journal=work.id))

    # 4. limits
    def _apply(self, works: list[Work]) -> None:
        chain: list[Work] = []
        for work in works:
            chain.append(work)
            if work.spec.linked:
                continue
            self._apply_chain(chain)
            chain = []
        if chain:
            self._apply_chain(chain)

    def _apply_chain(self, chain: list[Work]) -> None:
        if len(chain) > 1 and any(w.status == "rejected" for w in chain):
            for work in chain:
                if work.status != "rejected":
                    work.reject(PayHubError("linked_journal_failed"))
            return
        touched = {
            (line.account.id, line.shard)
            for work in chain
            if work.live
            for line in (*work.lines, *work.release)
        }
        before = {key: self.rows[key].snapshot() for key in touched}
        for work in chain:
            if not work.live:
                continue
            try:
                self._apply_one(work)
            except PayHubError as error:
                for key, values in before.items():
                    self.rows[key].restore(values)
                work.reject(error)
                for other in chain:
                    if other.live:
                        other.reject(PayHubError("linked_journal_failed"))
                return
        for work in chain:
            if work.live:
                work.status = "created"
        for key in touched:
            self.rows[key].dirty = True

    def _apply_one(self, work: Work) -> None:
        touched: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        for line in (*work.release, *work.lines):
            key = (line.account.id, line.shard)
            touched.setdefault(key, self.rows[key].snapshot())
        for line in work.release:
            row = self.rows[(line.account.id, line.shard)]
            if line.side is Side.DEBIT:
                row.debits_pending -= line.amount
            else:
                row.credits_pending -= line.amount
        pending = work.kind == "hold"
        for line in work.lines:
            row = self.rows[(line.account.id, line.shard)]
            if line.side is Side.DEBIT:
                if pending:
                    row.debits_pending += line.amount
                else:
                    row.debits_posted += line.amount
            elif pending:
                row.credits_pending += line.amount
            else:
                row.credits_posted += line.amount
        try:
            for key in touched:
                self._check_limits(self.rows[key])
        except PayHubError:
            for key, values in touched.items():
                self.rows[key].restore(values)
            raise

    @staticmethod
    def _check_limits(row: Row) -> None:
        # A hot account's total is the sum of its shards, so each shard holds at most its
        # share of the 64-bit range; the total can then never overflow.
        if max(row.snapshot()) > MAX_MINOR // row.account.shards:
            raise PayHubError("amount_too_large", param="amount")
        acct = row.account
        if acct.limit_debits and row.debits_posted + row.debits_pending > row.credits_posted:
            raise PayHubError("insufficient_funds", account=acct.code)
        if acct.limit_credits and row.credits_posted + row.credits_pending > row.debits_posted:
            raise PayHubError("exceeds_debits", account=acct.code)

    # 5. write
    async def _write(self, store: Store, works: list[Work]) -> None:
        created = [w for w in works if w.status == "created"]
        if not created:
            return
        now = clock.now()
        writes = Writes([], [], [], [row for row in self.rows.values() if row.dirty])
        for work in created:
            writes.journals.append(
                {
                    "id": work.id,
                    "kind": work.kind,
                    "description": work.spec.description,
                    "metadata": work.spec.metadata,
                    "content_hash": work.content_hash,
                    "reverses_journal_id": work.reverses_journal_id,
                    "hold_id": work.hold_id,
                    "posted_at": now,
                }
            )
            entries = []
            for line in work.lines:
                entry = EntryView(
                    id=new_id("ent"),
                    journal_id=work.id,
                    account_id=line.account.id,
                    account_code=line.account.code,
                    side=line.side,
                    amount=line.amount,
                    currency=line.account.currency,
                    pending=work.kind == "hold",
                    posted_at=now,
                )
                entries.append(entry)
                writes.entries.append(
                    {
                        "id": entry.id,
                        "journal_id": work.id,
                        "account_id": entry.account_id,
                        "shard": line.shard,
                        "side": entry.side.value,
                        "amount": entry.amount,
                        "currency": entry.currency,
                        "pending": entry.pending,
                        "posted_at": now,
                    }
                )
            if work.kind == "hold":
                writes.holds.append(
                    {
                        "id": work.id,
                        "status": "pending",
                        "expires_at": work.expires_at,
                        "resolved_at": None,
                        "post_journal_id": None,
                        "created_at": now,
                    }
                )
            work.view = JournalView(
                id=work.id,
                kind=work.kind,
                description=work.spec.description,
                metadata=dict(work.spec.metadata),
                postings=tuple(entries),
                posted_at=now,
                reverses_journal_id=work.reverses_journal_id,
                hold_id=work.hold_id,
            )
        await store.write(writes)
        for row in writes.rows:
            row.dirty = False


def pins_of(lines: list[Line]) -> dict[str, frozenset[int]]:
    """The hot-account shards these lines sit on (what releasing or posting them must lock)."""
    shards: dict[str, set[int]] = defaultdict(set)
    for line in lines:
        if line.account.shards > 1:
            shards[line.account.id].add(line.shard)
    return {account: frozenset(found) for account, found in shards.items()}


async def release_lines(session: AsyncSession, lines: list[Line], pins: Pins) -> None:
    """Give back what a hold reserved (void or expiry)."""
    await Engine(session, pins=pins).release(lines)
