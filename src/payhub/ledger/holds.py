"""Two-phase holds: reserve now, then post (in full or in part), void, or let expire.

A hold is a journal of kind `hold` whose entries are pending: they raise the accounts'
pending totals, which count against balance limits, but not their posted totals. It
resolves exactly once: the hold row is locked while it changes state, and the database
allows one posting journal per hold.

`create_holds`, `post_holds` and `void_holds` do the same for many holds in one pass of
the engine (a few statements whatever their number), for callers that move money in bulk
and do not need each hold read back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.db.sql import table_of
from payhub.ledger.domain import HoldView, JournalSpec, PostingSpec, Side
from payhub.ledger.journals import load_journals, outcomes
from payhub.ledger.models import Account, Entry, Hold
from payhub.ledger.posting import Engine, Line, Work, pins_of, release_lines
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
    return hold, [_line(a, e.shard, e.side, e.amount) for e, a in rows]


def _line(a: Any, shard: int, side: str, amount: int) -> Line:
    """A held entry as the engine's line (`a`: an account row or object)."""
    acct = Acct(
        a.id,
        a.code,
        a.currency,
        a.normal_side,
        a.debits_must_not_exceed_credits,
        a.credits_must_not_exceed_debits,
        a.shards,
    )
    return Line(acct, shard, Side(side), amount)


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
    await Engine(session, pins=pins_of(held)).run([work])
    if work.error is not None:
        raise work.error
    hold.status, hold.resolved_at, hold.post_journal_id = "posted", now, work.id
    await session.flush()
    return await get_hold(session, hold_id)


async def void_hold(session: AsyncSession, hold_id: str) -> HoldView:
    """Release everything the hold reserved; nothing is posted."""
    hold, held = await _lock_pending_hold(session, hold_id)
    await release_lines(session, held, pins_of(held))
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
        await release_lines(session, held, pins_of(held))
        hold.status, hold.resolved_at = "expired", now
        expired.append(hold_id)
    await session.flush()
    return expired


# ------------------------------------------------------------------------------ in bulk

# Holds one statement locks and reads (the IN list stays short).
_CHUNK = 500


@dataclass(slots=True)
class _Held:
    """A hold locked for a change, with what it reserved."""

    id: str
    status: str
    expires_at: datetime | None
    post_journal_id: str | None
    lines: list[Line] = field(default_factory=list)


_HELD_COLUMNS = (
    Hold.id.label("hold_id"), Hold.status, Hold.expires_at, Hold.post_journal_id,
    Entry.shard, Entry.side, Entry.amount, Account.id, Account.code, Account.currency,
    Account.normal_side, Account.debits_must_not_exceed_credits,
    Account.credits_must_not_exceed_debits, Account.shards,
)  # fmt: skip


async def _lock_holds(session: AsyncSession, hold_ids: Sequence[str]) -> dict[str, _Held]:
    """Lock the hold rows (in id order, so bulk callers queue rather than deadlock) and read
    their reserved entries, a few hundred holds a statement."""
    found: dict[str, _Held] = {}
    ids = sorted(set(hold_ids))
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(*_HELD_COLUMNS)
            .join(Entry, Entry.journal_id == Hold.id)
            .join(Account, Account.id == Entry.account_id)
            .where(Hold.id.in_(ids[start : start + _CHUNK]))
            .order_by(Hold.id, Entry.id)
            .with_for_update(of=Hold)
        )
        for r in rows:
            held = found.get(r.hold_id)
            if held is None:
                held = found[r.hold_id] = _Held(
                    r.hold_id, r.status, r.expires_at, r.post_journal_id
                )
            held.lines.append(_line(r, r.shard, r.side, r.amount))
    return found


_HOLDS = table_of(Hold)
_RESOLVE = (
    update(_HOLDS)
    .where(_HOLDS.c.id == bindparam("b_id"), _HOLDS.c.status == "pending")
    .values(
        status=bindparam("b_status"),
        resolved_at=bindparam("b_at"),
        post_journal_id=bindparam("b_journal"),
    )
)


async def _mark(
    session: AsyncSession, resolved: list[tuple[str, str, str | None]], now: datetime
) -> None:
    """(hold, new status, posting journal) for holds this pass resolved."""
    if resolved:
        await session.execute(
            _RESOLVE,
            [{"b_id": h, "b_status": s, "b_at": now, "b_journal": j} for h, s, j in resolved],
        )


async def create_holds(
    session: AsyncSession, specs: Sequence[JournalSpec]
) -> list[PayHubError | None]:
    """Reserve many holds at once, each standing alone: per spec None (created, or an
    identical hold of the same id already there) or the error refusing it
    (`insufficient_funds` when its account cannot cover it after the holds before it)."""
    works = [Work(index=i, kind="hold", spec=spec) for i, spec in enumerate(specs)]
    if works:
        await Engine(session).run(works)
    return [w.error for w in works]


async def post_holds(
    session: AsyncSession,
    posts: Sequence[tuple[str, str]],
    *,
    journals: Sequence[JournalSpec] = (),
) -> tuple[list[PayHubError | None], list[PayHubError | None]]:
    """Post many holds in full — (hold id, id of its posting journal) — and, in the same
    pass, other journals. Per hold and per journal: None (done; a hold already posted
    with that journal id is a repeat) or the error refusing it."""
    held = await _lock_holds(session, [h for h, _ in posts])
    now = clock.now()
    hold_errors: list[PayHubError | None] = [None] * len(posts)
    works: list[Work] = []
    for i, (hold_id, journal_id) in enumerate(posts):
        hold = held.get(hold_id)
        if hold is None:
            hold_errors[i] = PayHubError("hold_not_found", hold=hold_id)
        elif hold.status == "posted" and hold.post_journal_id == journal_id:
            continue
        elif hold.status != "pending":
            hold_errors[i] = PayHubError("hold_already_resolved", hold=hold_id, status=hold.status)
        elif hold.expires_at is not None and hold.expires_at <= now:
            hold_errors[i] = PayHubError(
                "hold_expired", hold=hold_id, expires_at=to_rfc3339(hold.expires_at)
            )
        else:
            spec = JournalSpec(
                id=journal_id,
                description=f"Posting of hold {hold_id}",
                metadata={"hold": hold_id},
                postings=tuple(
                    PostingSpec(ln.account.id, ln.side, ln.amount, ln.account.currency)
                    for ln in hold.lines
                ),
            )
            works.append(
                Work(index=i, kind="hold_post", spec=spec, hold_id=hold_id, release=hold.lines)
            )
    posting = list(works)
    others = [Work(index=i, kind="standard", spec=s) for i, s in enumerate(journals)]
    works += others
    if works:
        lines = [line for w in posting for line in w.release]
        await Engine(session, pins=pins_of(lines)).run(works)
    for work in posting:
        hold_errors[work.index] = work.error
    await _mark(
        session,
        [(w.hold_id or "", "posted", w.id) for w in posting if w.error is None],
        now,
    )
    return hold_errors, [w.error for w in others]


async def void_holds(session: AsyncSession, hold_ids: Sequence[str]) -> list[PayHubError | None]:
    """Release many holds at once; per hold None or the error refusing it."""
    held = await _lock_holds(session, hold_ids)
    errors: list[PayHubError | None] = []
    releasing: dict[str, _Held] = {}
    for hold_id in hold_ids:
        hold = held.get(hold_id)
        if hold is None:
            errors.append(PayHubError("hold_not_found", hold=hold_id))
        elif hold.status != "pending" or hold_id in releasing:
            status = "voided" if hold_id in releasing else hold.status
            errors.append(PayHubError("hold_already_resolved", hold=hold_id, status=status))
        else:
            errors.append(None)
            releasing[hold_id] = hold
    lines = [line for hold in releasing.values() for line in hold.lines]
    if lines:
        await release_lines(session, lines, pins_of(lines))
    await _mark(session, [(h, "voided", None) for h in releasing], clock.now())
    return errors
