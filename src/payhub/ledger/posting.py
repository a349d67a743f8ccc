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
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_client_id, is_id, new_id
from payhub.core.money import MAX_MINOR, check_amount, check_currency
from payhub.db.session import RetryTransaction, sqlstate
from payhub.ledger.accounts import refs_filter
from payhub.ledger.domain import (
    EntryView,
    JournalKind,
    JournalSpec,
    JournalView,
    PostingSpec,
    Side,
)
from payhub.ledger.models import Account, Balance, Entry, Hold, Journal

MAX_BATCH = 1000
MAX_POSTINGS = 100
MAX_METADATA_KEYS = 50


@dataclass(slots=True)
class Acct:
    id: str
    code: str
    currency: str
    normal_side: str
    limit_debits: bool
    limit_credits: bool
    shards: int


@dataclass(slots=True)
class Row:
    """The locked running totals of one balance row, changed in memory before writing."""

    account: Acct
    shard: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    dirty: bool = False

    def snapshot(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)

    def restore(self, values: tuple[int, int, int, int]) -> None:
        self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted = values


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
        check_currency(posting.currency)
        side = Side(posting.side)
        totals[posting.currency] += posting.amount if side is Side.DEBIT else -posting.amount
    for currency, net in sorted(totals.items()):
        if net != 0:
            raise PayHubError("journal_unbalanced", param="postings", currency=currency)


def validate_metadata(metadata: dict[str, Any]) -> None:
    if not isinstance(metadata, dict):
        raise PayHubError("validation_error", param="metadata", detail="an object of strings")
    if len(metadata) > MAX_METADATA_KEYS:
        raise PayHubError(
            "validation_error", param="metadata", detail=f"at most {MAX_METADATA_KEYS} keys"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 40:
            raise PayHubError("validation_error", param="metadata", detail="keys are 1-40 chars")
        if not isinstance(value, str) or len(value) > 500:
            raise PayHubError(
                "validation_error", param=f"metadata.{key}", detail="values are strings ≤ 500 chars"
            )


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
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Engine:
    """Posts a list of Work items in the caller's transaction."""

    def __init__(self, session: AsyncSession, *, pins: dict[str, int] | None = None) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name
        # Hot-account shards the caller needs (a hold's release must hit its own shard).
        self.pins = pins or {}
        self.by_id: dict[str, Acct] = {}
        self.by_code: dict[tuple[str, str], Acct] = {}
        self.rows: dict[tuple[str, int], Row] = {}
        self.hot_shard: dict[str, int] = {}

    async def run(self, works: list[Work]) -> list[Work]:
        self._validate(works)
        await self._lock_accounts(works)
        self._resolve(works)
        await self._find_existing(works)
        self._apply(works)
        await self._write(works)
        return works

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
        if works and works[-1].spec.linked:
            last = works[-1]
            if last.live:
                last.reject(
                    PayHubError(
                        "validation_error", param="linked", detail="the last journal cannot link on"
                    )
                )

    # 2. accounts and locks
    async def _lock_accounts(self, works: list[Work]) -> None:
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
        if not ids and not pairs:
            return
        where = refs_filter(ids, pairs)
        # Ordinary accounts: resolve and lock shard 0 in one statement, in account-id order.
        locked = await self.session.execute(
            select(
                Account.id,
                Account.code,
                Account.currency,
                Account.normal_side,
                Account.debits_must_not_exceed_credits,
                Account.credits_must_not_exceed_debits,
                Account.shards,
                Balance.debits_pending,
                Balance.debits_posted,
                Balance.credits_pending,
                Balance.credits_posted,
            )
            .join(Balance, Balance.account_id == Account.id)
            .where(where, Account.shards == 1, Balance.shard == 0)
            .order_by(Account.id)
            .with_for_update(of=Balance)
        )
        for r in locked:
            acct = self._remember(Acct(r[0], r[1], r[2], r[3], r[4], r[5], r[6]))
            self.rows[(acct.id, 0)] = Row(acct, 0, r[7], r[8], r[9], r[10])
        unresolved_ids = ids - self.by_id.keys()
        unresolved_pairs = pairs - self.by_code.keys()
        if not unresolved_ids and not unresolved_pairs:
            return
        hot = await self.session.execute(
            select(
                Account.id,
                Account.code,
                Account.currency,
                Account.normal_side,
                Account.debits_must_not_exceed_credits,
                Account.credits_must_not_exceed_debits,
                Account.shards,
            )
            .where(refs_filter(unresolved_ids, unresolved_pairs), Account.shards > 1)
            .order_by(Account.id)
        )
        for r in hot.all():
            acct = self._remember(Acct(r[0], r[1], r[2], r[3], r[4], r[5], r[6]))
            await self._lock_hot_shard(acct)

    def _remember(self, acct: Acct) -> Acct:
        self.by_id[acct.id] = acct
        self.by_code[(acct.code, acct.currency)] = acct
        return acct

    async def _lock_hot_shard(self, acct: Acct) -> None:
        columns = (
            Balance.shard,
            Balance.debits_pending,
            Balance.debits_posted,
            Balance.credits_pending,
            Balance.credits_posted,
        )
        base = select(*columns).where(Balance.account_id == acct.id)
        row = None
        if acct.id in self.pins:
            query = base.where(Balance.shard == self.pins[acct.id]).with_for_update()
            row = (await self.session.execute(query)).first()
        elif self.dialect == "postgresql":
            # Any shard no other transaction holds right now; never waits.
            query = base.order_by(func.random()).limit(1).with_for_update(skip_locked=True)
            row = (await self.session.execute(query)).first()
        if row is None:
            shard = random.randrange(acct.shards)  # noqa: S311 - spreading load, not security
            query = base.where(Balance.shard == shard).with_for_update()
            row = (await self.session.execute(query)).first()
        if row is None:
            raise AssertionError(f"hot account {acct.id} is missing balance rows")
        self.hot_shard[acct.id] = row[0]
        self.rows[(acct.id, row[0])] = Row(acct, row[0], row[1], row[2], row[3], row[4])

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

    # 3. existing ids
    async def _find_existing(self, works: list[Work]) -> None:
        client_ids = [w.id for w in works if w.live and w.client_id]
        if not client_ids:
            return
        found = dict(
            (
                await self.session.execute(
                    select(Journal.id, Journal.content_hash).where(Journal.id.in_(client_ids))
                )
            ).all()
        )
        for work in works:
            if not work.live or work.id not in found:
                continue
            if found[work.id] == work.content_hash:
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
            else:
                if pending:
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
        if max(row.snapshot()) > MAX_MINOR:
            raise PayHubError("amount_too_large", param="amount")
        acct = row.account
        if acct.limit_debits and row.debits_posted + row.debits_pending > row.credits_posted:
            raise PayHubError("insufficient_funds", account=acct.code)
        if acct.limit_credits and row.credits_posted + row.credits_pending > row.debits_posted:
            raise PayHubError("exceeds_debits", account=acct.code)

    # 5. write
    async def _write(self, works: list[Work]) -> None:
        created = [w for w in works if w.status == "created"]
        if not created:
            return
        now = clock.now()
        journal_rows: list[dict[str, Any]] = []
        entry_rows: list[dict[str, Any]] = []
        hold_rows: list[dict[str, Any]] = []
        for work in created:
            journal_rows.append(
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
                entry_rows.append(
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
                hold_rows.append(
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
        try:
            await self.session.execute(insert(Journal), journal_rows)
        except IntegrityError as exc:
            if sqlstate(exc) == "23505" or "UNIQUE" in str(exc.orig):
                # A concurrent transaction wrote one of these ids (or reversed/posted the same
                # journal) after our checks: run again and see it.
                raise RetryTransaction from exc
            raise
        await self.session.execute(insert(Entry), entry_rows)
        if hold_rows:
            await self.session.execute(insert(Hold), hold_rows)
        await self._write_rows()

    async def _write_rows(self) -> None:
        dirty = [row for row in self.rows.values() if row.dirty]
        if not dirty:
            return
        table = Balance.__table__
        await self.session.execute(
            update(table)
            .where(
                table.c.account_id == bindparam("b_account"), table.c.shard == bindparam("b_shard")
            )
            .values(
                debits_pending=bindparam("b_dpend"),
                debits_posted=bindparam("b_dpost"),
                credits_pending=bindparam("b_cpend"),
                credits_posted=bindparam("b_cpost"),
            ),
            [
                {
                    "b_account": row.account.id,
                    "b_shard": row.shard,
                    "b_dpend": row.debits_pending,
                    "b_dpost": row.debits_posted,
                    "b_cpend": row.credits_pending,
                    "b_cpost": row.credits_posted,
                }
                for row in dirty
            ],
        )
        for row in dirty:
            row.dirty = False


async def release_lines(session: AsyncSession, lines: list[Line], pins: dict[str, int]) -> None:
    """Give back what a hold reserved (void or expiry): lock the rows, lower the pending totals."""
    engine = Engine(session, pins=pins)
    release_only = Work(index=0, kind="hold", spec=JournalSpec(postings=()), release=lines)
    release_only.status = "release"
    await engine._lock_accounts([release_only])
    for line in lines:
        row = engine.rows[(line.account.id, line.shard)]
        if line.side is Side.DEBIT:
            row.debits_pending -= line.amount
        else:
            row.credits_pending -= line.amount
        row.dirty = True
    await engine._write_rows()
