"""Two-phase holds: reserve now, then post (in full or in part), void, or let expire.

A hold is a journal of kind `hold` whose entries are pending: they raise the accounts'
pending totals, which count against balance limits, but not their posted totals. It
resolves exactly once: the hold row is locked while it changes state, and the database
allows one posting journal per hold.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.ledger.domain import HoldView, JournalSpec, PostingSpec, Side
from payhub.ledger.journals import load_journals, outcomes
from payhub.ledger.models import Account, Entry, Hold
from payhub.ledger.posting import Engine, Line, Work, release_lines
from payhub.ledger.store import Acct


async def create_hold(
    session: AsyncSession, spec: JournalSpec, *, expires_at: datetime | None = None
) -> tuple[HoldView, bool]:
    """Reserve the postings of `spec`. Returns the hold and whether it was created now."""
    if expires_at is not None and expires_at <= clock.now():
        raise PayHubError("validation_error", param="expires_at", detail="must be in the future")
    work = Work(index=0, kind="hold", spec=spec, expires_at=expires_at)
    await Engine(session).run([work])
    (outcome,) = await outcomes(session, [work])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.journal is not None
    return await get_hold(session, outcome.journal.id), outcome.status == "created"


async def get_hold(session: AsyncSession, hold_id: str) -> HoldView:
    hold = await session.get(Hold, hold_id)
    if hold is None:
        raise PayHubError("hold_not_found", hold=hold_id)
    (view,) = await _views(session, [hold])
    return view


async def list_holds(
    session: AsyncSession,
    *,
    limit: int,
    starting_after: str | None = None,
    status: str | None = None,
) -> tuple[list[HoldView], bool]:
    """Newest first; `status` picks pending, posted, voided or expired holds."""
    query = select(Hold).order_by(Hold.created_at.desc(), Hold.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(Hold.status == status)
    if starting_after is not None:
        anchor = await session.get(Hold, starting_after)
        if anchor is None:
            raise PayHubError("hold_not_found", param="starting_after", hold=starting_after)
        query = query.where(tuple_(Hold.created_at, Hold.id) < tuple_(anchor.created_at, anchor.id))
    holds = list((await session.execute(query)).scalars().all())
    return await _views(session, holds[:limit]), len(holds) > limit


async def _views(session: AsyncSession, holds: list[Hold]) -> list[HoldView]:
    ids = [h.id for h in holds] + [h.post_journal_id for h in holds if h.post_journal_id]
    journals = await load_journals(session, ids)
    return [
        HoldView(
            id=hold.id,
            status=hold.status,  # type: ignore[arg-type]
            description=journals[hold.id].description,
            metadata=journals[hold.id].metadata,
            postings=journals[hold.id].postings,
            created_at=hold.created_at,
            expires_at=hold.expires_at,
            resolved_at=hold.resolved_at,
            post_journal=journals.get(hold.post_journal_id) if hold.post_journal_id else None,
        )
        for hold in holds
    ]


async def _lock_pending_hold(session: AsyncSession, hold_id: str) -> tuple[Hold, list[Line]]:
    hold = (
        await session.execute(select(Hold).where(Hold.id == hold_id).with_for_update())
    ).scalar_one_or_none()
    if hold is None:
        raise PayHubError("hold_not_found", hold=hold_id)
    if hold.status != "pending":
        raise PayHubError("hold_already_resolved", hold=hold_id, status=hold.status)
    rows = (
        await session.execute(
            select(Entry, Account)
            .join(Account, Account.id == Entry.account_id)
            .where(Entry.journal_id == hold_id)
            .order_by(Entry.id)
        )
    ).all()
    lines = [
        Line(
            Acct(
                a.id,
                a.code,
                a.currency,
                a.normal_side,
                a.debits_must_not_exceed_credits,
                a.credits_must_not_exceed_debits,
                a.shards,
            ),
            e.shard,
            Side(e.side),
            e.amount,
        )
        for e, a in rows
    ]
    return hold, lines


def _pins(lines: list[Line]) -> dict[str, int]:
    return {line.account.id: line.shard for line in lines if line.account.shards > 1}


async def post_hold(
    session: AsyncSession,
    hold_id: str,
    *,
    journal_id: str | None = None,
    postings: tuple[PostingSpec, ...] | None = None,
    description: str | None = None,
) -> HoldView:
    """Turn a hold into a posted journal: all of it, or `postings` (each line at most what the
    hold reserved for that account and side). Whatever is not posted is released."""
    if journal_id is not None:
        current = await session.get(Hold, hold_id)
        if current is not None and current.post_journal_id == journal_id:
            return await get_hold(session, hold_id)  # a repeat of the same post
    hold, held = await _lock_pending_hold(session, hold_id)
    now = clock.now()
    if hold.expires_at is not None and hold.expires_at <= now:
        raise PayHubError("hold_expired", hold=hold_id, expires_at=to_rfc3339(hold.expires_at))
    if postings is None:
        postings = tuple(
            PostingSpec(line.account.id, line.side, line.amount, line.account.currency)
            for line in held
        )
    reserved: dict[tuple[str, Side], int] = defaultdict(int)
    ids_by_code = {}
    for line in held:
        reserved[(line.account.id, line.side)] += line.amount
        ids_by_code[(line.account.code, line.account.currency)] = line.account.id
    # Compare per account whichever way the caller named it (id or code).
    asked: dict[tuple[str, Side], int] = defaultdict(int)
    for posting in postings:
        account = ids_by_code.get((posting.account, posting.currency), posting.account)
        asked[(account, Side(posting.side))] += posting.amount
    for (account, side), amount in asked.items():
        if amount > reserved.get((account, side), 0):
            raise PayHubError(
                "hold_post_exceeds_pending", param="postings", account=account, hold=hold_id
            )
    spec = JournalSpec(
        id=journal_id,
        description=description or f"Posting of hold {hold_id}",
        metadata={"hold": hold_id},
        postings=postings,
    )
    work = Work(index=0, kind="hold_post", spec=spec, hold_id=hold_id, release=held)
    await Engine(session, pins=_pins(held)).run([work])
    if work.error is not None:
        raise work.error
    hold.status, hold.resolved_at, hold.post_journal_id = "posted", now, work.id
    await session.flush()
    return await get_hold(session, hold_id)


async def void_hold(session: AsyncSession, hold_id: str) -> HoldView:
    """Release everything the hold reserved; nothing is posted."""
    hold, held = await _lock_pending_hold(session, hold_id)
    await release_lines(session, held, _pins(held))
    hold.status, hold.resolved_at = "voided", clock.now()
    await session.flush()
    return await get_hold(session, hold_id)


async def expire_holds(session: AsyncSession, *, limit: int = 100) -> list[str]:
    """Release holds whose deadline has passed. Safe to run from several workers at once:
    each hold is claimed with SKIP LOCKED and checked again under its lock."""
    now = clock.now()
    query = (
        select(Hold.id)
        .where(Hold.status == "pending", Hold.expires_at.is_not(None), Hold.expires_at <= now)
        .order_by(Hold.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    expired = []
    for hold_id in (await session.execute(query)).scalars().all():
        hold, held = await _lock_pending_hold(session, hold_id)
        await release_lines(session, held, _pins(held))
        hold.status, hold.resolved_at = "expired", now
        expired.append(hold_id)
    await session.flush()
    return expired
