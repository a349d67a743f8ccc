"""Ledger accounts: creation, lookup, balances and entry listings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id, new_id
from payhub.core.metadata import validate_metadata
from payhub.core.money import check_currency
from payhub.db.sql import Sql, as_sql, columns_of, table_of
from payhub.ledger.domain import AccountView, BalanceView, EntryView, Side
from payhub.ledger.models import Account, Balance, Entry

# Codes follow the chart of accounts: segments joined by ':' (`merchant:mer_…:available`).
ACCOUNT_CODE = re.compile(r"^[A-Za-z0-9_\-]+(:[A-Za-z0-9_\-]+)*$")
MAX_SHARDS = 256


def account_view(row: Account) -> AccountView:
    return AccountView(
        id=row.id,
        code=row.code,
        currency=row.currency,
        name=row.name,
        owner=row.owner,
        normal_side=Side(row.normal_side),
        debits_must_not_exceed_credits=row.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=row.credits_must_not_exceed_debits,
        shards=row.shards,
        metadata=dict(row.metadata_),
        created_at=row.created_at,
    )


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    currency: str
    normal_side: Side
    name: str | None = None
    owner: str | None = None
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False
    shards: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


def _new_account_row(spec: AccountSpec) -> Account:
    """Check an account's settings and make its row. Hot accounts (`shards` > 1) spread their
    balance over several rows so concurrent postings do not queue on one lock; they cannot
    carry balance limits, which would need all shards at once."""
    if len(spec.code) > 160 or not ACCOUNT_CODE.fullmatch(spec.code):
        raise PayHubError("account_code_invalid", param="code")
    check_currency(spec.currency)
    if spec.debits_must_not_exceed_credits and spec.credits_must_not_exceed_debits:
        raise PayHubError(
            "account_flags_invalid",
            param="flags",
            detail="an account cannot limit both its debits and its credits",
        )
    if not 1 <= spec.shards <= MAX_SHARDS:
        raise PayHubError("validation_error", param="shards", detail=f"shards is 1 to {MAX_SHARDS}")
    if spec.shards > 1 and (
        spec.debits_must_not_exceed_credits or spec.credits_must_not_exceed_debits
    ):
        raise PayHubError(
            "account_flags_invalid",
            param="shards",
            detail="a sharded (hot) account cannot carry a balance limit",
        )
    validate_metadata(spec.metadata)
    return Account(
        id=new_id("acct"),
        code=spec.code,
        currency=spec.currency,
        name=spec.name or spec.code,
        owner=spec.owner,
        normal_side=Side(spec.normal_side).value,
        debits_must_not_exceed_credits=spec.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=spec.credits_must_not_exceed_debits,
        shards=spec.shards,
        metadata_=dict(spec.metadata),
        created_at=clock.now(),
    )


async def create_account(
    session: AsyncSession,
    *,
    code: str,
    currency: str,
    normal_side: Side,
    name: str | None = None,
    owner: str | None = None,
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
    shards: int = 1,
    metadata: dict[str, Any] | None = None,
) -> AccountView:
    """Open an account; its code is unique per currency."""
    spec = AccountSpec(
        code, currency, normal_side, name, owner,
        debits_must_not_exceed_credits, credits_must_not_exceed_debits, shards, metadata or {},
    )  # fmt: skip
    (view,) = await create_accounts(session, [spec])
    return view


async def create_accounts(session: AsyncSession, specs: list[AccountSpec]) -> list[AccountView]:
    """Open many accounts in a few statements (onboarding in bulk); all or none."""
    rows = [_new_account_row(spec) for spec in specs]
    keys = {(r.code, r.currency) for r in rows}
    if len(keys) < len(rows):
        raise PayHubError("validation_error", param="code", detail="the same code twice")
    codes = sorted({code for code, _ in keys})
    for start in range(0, len(codes), 1000):
        found = await session.execute(
            select(Account.code, Account.currency).where(
                Account.code.in_(codes[start : start + 1000])
            )
        )
        for code, currency in found:
            if (code, currency) in keys:
                raise PayHubError(
                    "account_code_taken", param="code", account=code, currency=currency
                )
    try:
        await session.execute(
            insert(Account),
            [{c.key: getattr(r, c.key) for c in Account.__mapper__.column_attrs} for r in rows],
        )
        await session.execute(
            insert(Balance),
            [{"account_id": r.id, "shard": s} for r in rows for s in range(r.shards)],
        )
    except IntegrityError:
        # A concurrent request opened one of the same accounts first.
        first = specs[0]
        raise PayHubError(
            "account_code_taken", param="code", account=first.code, currency=first.currency
        ) from None
    return [account_view(r) for r in rows]


_ACCOUNTS = table_of(Account)
_OPEN_BALANCE = insert(table_of(Balance))


_OPEN_MANY = {
    "postgresql": pg_insert(_ACCOUNTS).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(_ACCOUNTS).on_conflict_do_nothing(),
}


async def ensure_accounts(tx: AsyncSession | Sql, specs: list[AccountSpec]) -> None:
    """Open the accounts of `specs` that do not exist yet, keeping those that do (whatever
    their settings). Safe against a concurrent opener: its account is kept. A few
    statements whatever their number (a split batch opens thousands)."""
    sql = await as_sql(tx)
    # Most are there already: one read finds them.
    existing = await _existing(sql, specs)
    wanted: dict[tuple[str, str], AccountSpec] = {}
    for spec in specs:
        if (spec.code, spec.currency) not in existing:
            wanted.setdefault((spec.code, spec.currency), spec)
    if not wanted:
        return
    rows = [columns_of(_new_account_row(spec)) for spec in wanted.values()]
    await sql.run_many(_OPEN_MANY["postgresql" if sql.is_postgres else "sqlite"], rows)
    # Ours are those whose new id is there: a concurrent opener's row was kept instead.
    ours = await _present(sql, [row["id"] for row in rows])
    await sql.run_many(
        _OPEN_BALANCE,
        [
            _empty_balance(row["id"], shard)
            for row in rows
            if row["id"] in ours
            for shard in range(row["shards"])
        ],
    )


async def _present(sql: Sql, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if sql.is_postgres:
            connection = await sql.raw()
            rows = await connection.fetch(
                "SELECT id FROM ledger_accounts WHERE id = ANY($1::text[])", chunk
            )
            found |= {r[0] for r in rows}
        else:
            assert sql.session is not None
            query = select(Account.id).where(Account.id.in_(chunk))
            found |= {r[0] for r in await sql.session.execute(query)}
    return found


async def _existing(sql: Sql, specs: list[AccountSpec]) -> set[tuple[str, str]]:
    """The (code, currency) of those of `specs` that exist, a few hundred codes a read."""
    codes = sorted({spec.code for spec in specs})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        if sql.is_postgres:
            connection = await sql.raw()
            rows = await connection.fetch(
                "SELECT code, currency FROM ledger_accounts WHERE code = ANY($1::text[])", chunk
            )
            found |= {(r[0], r[1]) for r in rows}
        else:
            assert sql.session is not None
            query = select(Account.code, Account.currency).where(Account.code.in_(chunk))
            found |= {(r[0], r[1]) for r in await sql.session.execute(query)}
    return found


def _empty_balance(account_id: str, shard: int) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "shard": shard,
        "debits_pending": 0,
        "debits_posted": 0,
        "credits_pending": 0,
        "credits_posted": 0,
    }


async def ensure_account(session: AsyncSession, spec: AccountSpec) -> AccountView:
    """The account with this code and currency, opened with these settings if it is missing."""
    existing = await find_account(session, spec.code, spec.currency)
    if existing is not None:
        return existing
    (view,) = await create_accounts(session, [spec])
    return view


async def find_account(session: AsyncSession, code: str, currency: str) -> AccountView | None:
    row = (
        await session.execute(
            select(Account).where(Account.code == code, Account.currency == currency)
        )
    ).scalar_one_or_none()
    return account_view(row) if row else None


async def get_account(session: AsyncSession, ref: str, currency: str | None = None) -> AccountView:
    """An account by id, or by code (and currency, needed when the code exists in several)."""
    if is_id(ref, "acct"):
        row = await session.get(Account, ref)
        if row is None:
            raise PayHubError("account_not_found", account=ref)
        return account_view(row)
    query = select(Account).where(Account.code == ref)
    if currency is not None:
        query = query.where(Account.currency == currency)
    rows = (await session.execute(query.limit(2))).scalars().all()
    if len(rows) != 1:
        if len(rows) > 1:
            raise PayHubError(
                "validation_error", param="currency", detail="the code exists in several currencies"
            )
        raise PayHubError("account_not_found", account=ref)
    return account_view(rows[0])


async def update_account(
    session: AsyncSession,
    account_id: str,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AccountView:
    """Only the descriptive fields change; currency, side, limits and shards are fixed."""
    row = await session.get(Account, account_id)
    if row is None:
        raise PayHubError("account_not_found", account=account_id)
    if name is not None:
        row.name = name
    if metadata is not None:
        row.metadata_ = metadata
    await session.flush()
    return account_view(row)


async def list_accounts(
    session: AsyncSession,
    *,
    limit: int,
    starting_after: str | None = None,
    owner: str | None = None,
    code_prefix: str | None = None,
    currency: str | None = None,
) -> tuple[list[AccountView], bool]:
    query = select(Account).order_by(Account.id.desc()).limit(limit + 1)
    if starting_after:
        query = query.where(Account.id < starting_after)
    if owner:
        query = query.where(Account.owner == owner)
    if code_prefix:
        query = query.where(Account.code.startswith(code_prefix, autoescape=True))
    if currency:
        query = query.where(Account.currency == currency)
    rows = (await session.execute(query)).scalars().all()
    return [account_view(r) for r in rows[:limit]], len(rows) > limit


async def get_balance(
    session: AsyncSession, account_id: str, *, as_of: datetime | None = None
) -> BalanceView:
    """Current balance in O(shards) from the running totals, or the posted balance at a past
    moment from the entries."""
    account = await session.get(Account, account_id)
    if account is None:
        raise PayHubError("account_not_found", account=account_id)
    if as_of is None:
        totals = (
            await session.execute(
                select(
                    func.coalesce(func.sum(Balance.debits_posted), 0),
                    func.coalesce(func.sum(Balance.credits_posted), 0),
                    func.coalesce(func.sum(Balance.debits_pending), 0),
                    func.coalesce(func.sum(Balance.credits_pending), 0),
                ).where(Balance.account_id == account_id)
            )
        ).one()
        return BalanceView(
            account_id=account.id,
            currency=account.currency,
            normal_side=Side(account.normal_side),
            debits_posted=int(totals[0]),
            credits_posted=int(totals[1]),
            debits_pending=int(totals[2]),
            credits_pending=int(totals[3]),
        )
    sums = (
        await session.execute(
            select(Entry.side, func.coalesce(func.sum(Entry.amount), 0))
            .where(
                Entry.account_id == account_id,
                Entry.pending.is_(False),
                Entry.posted_at <= as_of,
            )
            .group_by(Entry.side)
        )
    ).all()
    by_side = {side: int(total) for side, total in sums}
    return BalanceView(
        account_id=account.id,
        currency=account.currency,
        normal_side=Side(account.normal_side),
        debits_posted=by_side.get("debit", 0),
        credits_posted=by_side.get("credit", 0),
        debits_pending=0,
        credits_pending=0,
        as_of=as_of,
    )


def entry_view(row: Entry, code: str) -> EntryView:
    return EntryView(
        id=row.id,
        journal_id=row.journal_id,
        account_id=row.account_id,
        account_code=code,
        side=Side(row.side),
        amount=row.amount,
        currency=row.currency,
        pending=row.pending,
        posted_at=row.posted_at,
    )


async def list_entries(
    session: AsyncSession,
    account_id: str,
    *,
    limit: int,
    starting_after: str | None = None,
    include_pending: bool = False,
) -> tuple[list[EntryView], bool]:
    account = await session.get(Account, account_id)
    if account is None:
        raise PayHubError("account_not_found", account=account_id)
    query = (
        select(Entry)
        .where(Entry.account_id == account_id)
        .order_by(Entry.id.desc())
        .limit(limit + 1)
    )
    if not include_pending:
        query = query.where(Entry.pending.is_(False))
    if starting_after:
        query = query.where(Entry.id < starting_after)
    rows = (await session.execute(query)).scalars().all()
    return [entry_view(r, account.code) for r in rows[:limit]], len(rows) > limit


_BALANCES = table_of(Balance)
_ENTRIES = table_of(Entry)
_BALANCES_BY_CODE = (
    select(
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.code,
        _ACCOUNTS.c.normal_side,
        func.coalesce(func.sum(_BALANCES.c.debits_posted), 0).label("debits_posted"),
        func.coalesce(func.sum(_BALANCES.c.credits_posted), 0).label("credits_posted"),
        func.coalesce(func.sum(_BALANCES.c.debits_pending), 0).label("debits_pending"),
        func.coalesce(func.sum(_BALANCES.c.credits_pending), 0).label("credits_pending"),
    )
    .join(_BALANCES, _BALANCES.c.account_id == _ACCOUNTS.c.id)
    .where(_ACCOUNTS.c.currency == bindparam("currency"))
    .group_by(_ACCOUNTS.c.id, _ACCOUNTS.c.code, _ACCOUNTS.c.normal_side)
)


async def balances_by_code(
    tx: AsyncSession | Sql, codes: list[str], currency: str
) -> dict[str, BalanceView]:
    """Current balances of the accounts with these codes in one currency, in one statement
    and in the caller's transaction (an ORM session or a `Sql` unit); codes with no account
    are left out."""
    sql = await as_sql(tx)
    if not codes:
        return {}
    # Equalities, not IN: the fast path takes no list parameters.
    query = _BALANCES_BY_CODE.where(or_(*(_ACCOUNTS.c.code == code for code in codes)))
    rows = await sql.all_once(query, currency=currency)
    return {
        row["code"]: BalanceView(
            account_id=row["id"],
            currency=currency,
            normal_side=Side(row["normal_side"]),
            debits_posted=int(row["debits_posted"]),
            credits_posted=int(row["credits_posted"]),
            debits_pending=int(row["debits_pending"]),
            credits_pending=int(row["credits_pending"]),
        )
        for row in rows
    }


async def posted_now_and_since(
    tx: AsyncSession | Sql,
    account_id: str,
    normal_side: Side,
    since: datetime,
    *,
    excluding_journal_prefix: str | None = None,
) -> tuple[int, int]:
    """An account's posted balance now and the net posted movement of its entries posted
    at or after `since` (both on its normal side), read in one statement so both see the
    same committed state; the movement may leave out the journals whose id starts with a
    prefix (one module's own family of journals)."""
    sql = await as_sql(tx)
    sign = 1 if normal_side is Side.DEBIT else -1
    signed = case((_ENTRIES.c.side == "debit", _ENTRIES.c.amount), else_=-_ENTRIES.c.amount)
    movement = select(func.coalesce(func.sum(signed), 0)).where(
        _ENTRIES.c.account_id == account_id,
        _ENTRIES.c.pending.is_(False),
        _ENTRIES.c.posted_at >= since,
    )
    if excluding_journal_prefix is not None:
        movement = movement.where(~_ENTRIES.c.journal_id.startswith(excluding_journal_prefix))
    balance = select(
        func.coalesce(func.sum(_BALANCES.c.debits_posted - _BALANCES.c.credits_posted), 0)
    ).where(_BALANCES.c.account_id == account_id)
    query = select(
        balance.scalar_subquery().label("balance"), movement.scalar_subquery().label("movement")
    )
    row = await sql.all_once(query)
    return sign * int(row[0]["balance"]), sign * int(row[0]["movement"])
