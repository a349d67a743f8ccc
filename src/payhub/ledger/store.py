"""Where the posting engine reads and writes: one implementation on SQLAlchemy (every
database, used on SQLite) and one on raw asyncpg for PostgreSQL, which does the same in
two round trips instead of five."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.session import RetryTransaction, sqlstate
from payhub.db.sql import table_of
from payhub.ledger.models import Account, Balance, Entry, Hold, Journal


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


# Hot-account shards a caller must lock (a hold's release must hit the shards it reserved
# on): account id → shards. Posting many holds at once may pin several shards of one account.
Pins = Mapping[str, frozenset[int]]


@dataclass(slots=True)
class Locked:
    accounts: list[Acct] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    # id → content hash of journals that already exist among the ids asked about.
    existing: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Writes:
    journals: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    rows: list[Row]


class Store(Protocol):
    async def lock(
        self,
        ids: set[str],
        pairs: set[tuple[str, str]],
        pins: Pins,
        journal_ids: list[str],
    ) -> Locked:
        """Resolve accounts by id or (code, currency), lock their balance rows in account-id
        order (one free shard of each hot account, or the pinned ones), and report which of
        `journal_ids` exist."""
        ...

    async def journal_hashes(self, journal_ids: list[str]) -> dict[str, str]:
        """Content hashes of those of `journal_ids` that exist, read afresh."""
        ...

    async def write(self, writes: Writes) -> None:
        """Insert journals, entries and holds and store the new totals. A journal id that
        appeared since `lock` raises RetryTransaction."""
        ...


def _refs_filter(ids: set[str], pairs: set[tuple[str, str]]) -> Any:
    """Accounts with one of these ids or codes. Codes are matched without their currency so
    that both terms use an index (SQLite will not for row-value IN under OR); `_wanted`
    drops the other currencies afterwards."""
    codes = sorted({code for code, _ in pairs})
    return or_(Account.id.in_(sorted(ids)), Account.code.in_(codes))


def _wanted(acct: Acct, ids: set[str], pairs: set[tuple[str, str]]) -> bool:
    return acct.id in ids or (acct.code, acct.currency) in pairs


def _is_unique_violation(exc: BaseException) -> bool:
    return sqlstate(exc) == "23505" or "UNIQUE constraint failed" in str(exc)


class SqlAlchemyStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    async def lock(
        self,
        ids: set[str],
        pairs: set[tuple[str, str]],
        pins: Pins,
        journal_ids: list[str],
    ) -> Locked:
        out = Locked()
        if ids or pairs:
            await self._lock_accounts(ids, pairs, pins, out)
        if journal_ids:
            out.existing = await self.journal_hashes(journal_ids)
        return out

    async def journal_hashes(self, journal_ids: list[str]) -> dict[str, str]:
        found = await self.session.execute(
            select(Journal.id, Journal.content_hash).where(Journal.id.in_(journal_ids))
        )
        return {r[0]: r[1] for r in found}

    async def _lock_accounts(
        self, ids: set[str], pairs: set[tuple[str, str]], pins: Pins, out: Locked
    ) -> None:
        account_columns = (
            Account.id, Account.code, Account.currency, Account.normal_side,
            Account.debits_must_not_exceed_credits, Account.credits_must_not_exceed_debits,
            Account.shards,
        )  # fmt: skip
        locked = await self.session.execute(
            select(
                *account_columns,
                Balance.debits_pending,
                Balance.debits_posted,
                Balance.credits_pending,
                Balance.credits_posted,
            )
            .join(Balance, Balance.account_id == Account.id)
            .where(_refs_filter(ids, pairs), Account.shards == 1, Balance.shard == 0)
            .order_by(Account.id)
            .with_for_update(of=Balance)
        )
        for r in locked:
            acct = Acct(r[0], r[1], r[2], r[3], r[4], r[5], r[6])
            if not _wanted(acct, ids, pairs):
                continue
            out.accounts.append(acct)
            out.rows.append(Row(acct, 0, r[7], r[8], r[9], r[10]))
        found_ids = {a.id for a in out.accounts}
        found_pairs = {(a.code, a.currency) for a in out.accounts}
        rest_ids, rest_pairs = ids - found_ids, pairs - found_pairs
        if not rest_ids and not rest_pairs:
            return
        hot = await self.session.execute(
            select(*account_columns)
            .where(_refs_filter(rest_ids, rest_pairs), Account.shards > 1)
            .order_by(Account.id)
        )
        for h in hot.all():
            acct = Acct(h[0], h[1], h[2], h[3], h[4], h[5], h[6])
            if not _wanted(acct, rest_ids, rest_pairs):
                continue
            out.accounts.append(acct)
            pinned: list[int | None] = [*sorted(pins.get(acct.id, ()))]
            for shard in pinned or [None]:
                out.rows.append(await self._lock_hot_shard(acct, shard))

    async def _lock_hot_shard(self, acct: Acct, pinned: int | None) -> Row:
        base = select(
            Balance.shard, Balance.debits_pending, Balance.debits_posted,
            Balance.credits_pending, Balance.credits_posted,
        ).where(Balance.account_id == acct.id)  # fmt: skip
        row = None
        if pinned is not None:
            query = base.where(Balance.shard == pinned).with_for_update()
            row = (await self.session.execute(query)).first()
        elif self.postgres:
            # Any shard no other transaction holds right now; never waits.
            query = base.order_by(func.random()).limit(1).with_for_update(skip_locked=True)
            row = (await self.session.execute(query)).first()
        if row is None:
            shard = random.randrange(acct.shards)  # noqa: S311 - spreading load, not security
            query = base.where(Balance.shard == shard).with_for_update()
            row = (await self.session.execute(query)).first()
        if row is None:
            raise AssertionError(f"hot account {acct.id} is missing balance rows")
        return Row(acct, row[0], row[1], row[2], row[3], row[4])

    async def write(self, writes: Writes) -> None:
        # Core inserts on the tables: rows are keyed by column name ("metadata"), not by ORM
        # attribute name ("metadata_").
        if writes.journals:
            try:
                await self.session.execute(insert(table_of(Journal)), writes.journals)
            except IntegrityError as exc:
                if _is_unique_violation(exc):
                    # A concurrent transaction wrote one of these ids (or reversed or posted
                    # the same journal) after our checks: run again and see it.
                    raise RetryTransaction from exc
                raise
        if writes.entries:
            await self.session.execute(insert(table_of(Entry)), writes.entries)
        if writes.holds:
            await self.session.execute(insert(table_of(Hold)), writes.holds)
        if writes.rows:
            table = table_of(Balance)
            await self.session.execute(
                update(table)
                .where(
                    table.c.account_id == bindparam("b_account"),
                    table.c.shard == bindparam("b_shard"),
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
                    for row in writes.rows
                ],
            )


_PG_LOCK = """
WITH refs AS (
    SELECT a.id, a.code, a.currency, a.normal_side, a.debits_must_not_exceed_credits,
           a.credits_must_not_exceed_debits, a.shards
    FROM ledger_accounts a WHERE a.id = ANY($1::text[])
    UNION
    SELECT a.id, a.code, a.currency, a.normal_side, a.debits_must_not_exceed_credits,
           a.credits_must_not_exceed_debits, a.shards
    FROM unnest($2::text[], $3::text[]) AS p(code, currency)
    JOIN ledger_accounts a ON a.code = p.code AND a.currency = p.currency
), locked AS (
    SELECT r.id, r.code, r.currency, r.normal_side, r.debits_must_not_exceed_credits,
           r.credits_must_not_exceed_debits, r.shards, b.shard, b.debits_pending,
           b.debits_posted, b.credits_pending, b.credits_posted
    FROM refs r JOIN ledger_balances b ON b.account_id = r.id AND b.shard = 0
    WHERE r.shards = 1
    ORDER BY r.id
    FOR UPDATE OF b
)
SELECT 'l' AS what, l.id, l.code, l.currency, l.normal_side, l.debits_must_not_exceed_credits,
       l.credits_must_not_exceed_debits, l.shards, l.shard, l.debits_pending, l.debits_posted,
       l.credits_pending, l.credits_posted, NULL::int AS pinned
FROM locked l
UNION ALL
SELECT 'h', r.id, r.code, r.currency, r.normal_side, r.debits_must_not_exceed_credits,
       r.credits_must_not_exceed_debits, r.shards, b.shard, b.debits_pending, b.debits_posted,
       b.credits_pending, b.credits_posted, pin.shard
FROM refs r
LEFT JOIN unnest($5::text[], $6::int[]) AS pin(id, shard) ON pin.id = r.id
-- A hot account contributes one shard no other transaction holds (SKIP LOCKED never
-- waits), or each pinned one; none free (or a pinned one busy) → NULLs, and the caller
-- waits for it.
LEFT JOIN LATERAL (
    SELECT x.shard, x.debits_pending, x.debits_posted, x.credits_pending, x.credits_posted
    FROM ledger_balances x
    WHERE x.account_id = r.id AND (pin.shard IS NULL OR x.shard = pin.shard)
    ORDER BY random() LIMIT 1
    FOR UPDATE SKIP LOCKED
) b ON true
WHERE r.shards > 1
UNION ALL
SELECT 'j', j.id, j.content_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL
FROM ledger_journals j WHERE j.id = ANY($4::text[])
"""

_PG_HOT_WAIT = """
SELECT shard, debits_pending, debits_posted, credits_pending, credits_posted
FROM ledger_balances WHERE account_id = $1 AND shard = $2 FOR UPDATE
"""

# Rows travel as one JSON document per table: far cheaper for the client to encode than
# one array parameter per column, and PostgreSQL unpacks them with json_to_recordset.
_PG_WRITE_JOURNALS = """
WITH j AS (
    INSERT INTO ledger_journals
        (id, kind, description, metadata, content_hash, reverses_journal_id, hold_id, posted_at)
    SELECT id, kind, description, metadata, content_hash, reverses_journal_id, hold_id, posted_at
    FROM json_to_recordset($1::json) AS x(
        id text, kind text, description text, metadata json, content_hash text,
        reverses_journal_id text, hold_id text, posted_at timestamptz)
), e AS (
    INSERT INTO ledger_entries
        (id, journal_id, account_id, shard, side, amount, currency, pending, posted_at)
    SELECT id, journal_id, account_id, shard, side, amount, currency, pending, posted_at
    FROM json_to_recordset($2::json) AS x(
        id text, journal_id text, account_id text, shard int, side text, amount bigint,
        currency text, pending bool, posted_at timestamptz)
), h AS (
    INSERT INTO ledger_holds (id, status, expires_at, resolved_at, post_journal_id, created_at)
    SELECT id, 'pending', expires_at, NULL, NULL, created_at
    FROM json_to_recordset($3::json) AS x(id text, expires_at timestamptz, created_at timestamptz)
), b AS (
    -- Arrays, not JSON, here: the planner sizes unnest() by its arrays and so looks the few
    -- rows up by key, where json_to_recordset's fixed guess of 100 rows makes it scan the
    -- whole table.
    UPDATE ledger_balances t
    SET debits_pending = v.dpend, debits_posted = v.dpost,
        credits_pending = v.cpend, credits_posted = v.cpost
    FROM unnest($4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
         AS v(account_id, shard, dpend, dpost, cpend, cpost)
    WHERE t.account_id = v.account_id AND t.shard = v.shard
)
SELECT 1
"""


def _dumps(rows: list[dict[str, Any]]) -> str:
    # orjson writes datetimes as RFC 3339 and is several times faster than json here.
    return orjson.dumps(rows).decode()


class AsyncpgStore:
    """PostgreSQL through the raw asyncpg connection of the current transaction."""

    def __init__(self, connection: Any) -> None:
        self.conn = connection

    async def lock(
        self,
        ids: set[str],
        pairs: set[tuple[str, str]],
        pins: Pins,
        journal_ids: list[str],
    ) -> Locked:
        out = Locked()
        ordered_pairs = sorted(pairs)
        pinned = sorted((account, shard) for account, shards in pins.items() for shard in shards)
        records = await self.conn.fetch(
            _PG_LOCK,
            sorted(ids),
            [p[0] for p in ordered_pairs],
            [p[1] for p in ordered_pairs],
            journal_ids,
            [p[0] for p in pinned],
            [p[1] for p in pinned],
        )
        busy: list[tuple[Acct, int | None]] = []
        for r in records:
            if r[0] == "j":
                out.existing[r[1]] = r[2]
                continue
            acct = Acct(r[1], r[2], r[3], r[4], r[5], r[6], r[7])
            out.accounts.append(acct)
            if r[8] is None:
                busy.append((acct, r[13]))
            else:
                out.rows.append(Row(acct, r[8], r[9], r[10], r[11], r[12]))
        for acct, pin in sorted(busy, key=lambda b: (b[0].id, b[1] or 0)):
            # Every shard of this hot account is held right now (or a pinned one is): wait.
            shard = pin if pin is not None else random.randrange(acct.shards)  # noqa: S311
            w = await self.conn.fetchrow(_PG_HOT_WAIT, acct.id, shard)
            if w is None:
                raise AssertionError(f"hot account {acct.id} is missing balance rows")
            out.rows.append(Row(acct, w[0], w[1], w[2], w[3], w[4]))
        return out

    async def journal_hashes(self, journal_ids: list[str]) -> dict[str, str]:
        records = await self.conn.fetch(
            "SELECT id, content_hash FROM ledger_journals WHERE id = ANY($1::text[])", journal_ids
        )
        return {r[0]: r[1] for r in records}

    async def write(self, writes: Writes) -> None:
        rows = writes.rows
        try:
            await self.conn.execute(
                _PG_WRITE_JOURNALS,
                _dumps(writes.journals),
                _dumps(writes.entries),
                _dumps(writes.holds),
                [r.account.id for r in rows],
                [r.shard for r in rows],
                [r.debits_pending for r in rows],
                [r.debits_posted for r in rows],
                [r.credits_pending for r in rows],
                [r.credits_posted for r in rows],
            )
        except Exception as exc:
            if _is_unique_violation(exc):
                raise RetryTransaction from exc
            raise
