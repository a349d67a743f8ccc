"""Posting, reading and reversing journals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core.errors import PayHubError
from payhub.db import pg
from payhub.db.session import Database
from payhub.db.sql import Sql, as_sql
from payhub.ledger.accounts import entry_view
from payhub.ledger.domain import (
    EntryView,
    JournalOutcome,
    JournalSpec,
    JournalView,
    PostingSpec,
)
from payhub.ledger.models import Account, Entry, Journal
from payhub.ledger.posting import LIMIT_ERRORS, MAX_BATCH, Engine, Work


async def post_journal(session: AsyncSession, spec: JournalSpec) -> tuple[JournalView, bool]:
    """Post one journal. Returns it and whether it was created now (False: an identical
    journal with this id was posted before). Raises the catalogue error when refused."""
    (outcome,) = await post_journals(session, [spec], allow_linked=False)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.journal is not None
    return outcome.journal, outcome.status == "created"


async def record_journal(tx: AsyncSession | Sql, spec: JournalSpec) -> bool:
    """Post one journal for a module's own money movement, where the caller needs no view
    of it: True when posted now, False when an identical journal with this id was posted
    before. Raises the catalogue error when refused. On PostgreSQL it runs on the
    transaction's asyncpg connection, with or without an ORM session."""
    sql = await as_sql(tx)
    works = [
        Work(
            index=0,
            kind="standard",
            spec=JournalSpec(spec.postings, spec.id, spec.description, spec.metadata),
        )
    ]
    if sql.connection is not None:
        await Engine(connection=await sql.raw()).run(works)
    else:
        await Engine(sql.session).run(works)
    (work,) = works
    if work.status == "rejected":
        assert work.error is not None
        raise work.error
    return work.status == "created"


async def post_journals(
    session: AsyncSession, specs: list[JournalSpec], *, allow_linked: bool = True
) -> list[JournalOutcome]:
    """Post many journals in the caller's transaction; each is accepted or refused on its own,
    except linked chains, which stand or fall together."""
    if len(specs) > MAX_BATCH:
        raise PayHubError("batch_too_large", param="journals", limit=MAX_BATCH)
    if not allow_linked:
        specs = [JournalSpec(s.postings, s.id, s.description, s.metadata) for s in specs]
    works = [Work(index=i, kind="standard", spec=spec) for i, spec in enumerate(specs)]
    await Engine(session).run(works)
    return await outcomes(session, works)


async def post_journals_standalone(db: Database, specs: list[JournalSpec]) -> list[JournalOutcome]:
    """Post journals in a transaction of their own (retried on conflicts). On PostgreSQL this
    skips the ORM session entirely: the fast path for pure ledger traffic."""
    if len(specs) > MAX_BATCH:
        raise PayHubError("batch_too_large", param="journals", limit=MAX_BATCH)
    if db.is_sqlite:
        return await db.run_in_transaction(lambda s: post_journals(s, specs))

    async def work(connection: Any) -> list[Work]:
        works = [Work(index=i, kind="standard", spec=spec) for i, spec in enumerate(specs)]
        return await Engine(connection=connection).run(works)

    works = await pg.run_in_transaction(db, work)
    if any(w.status == "duplicate" for w in works):
        return await db.run_in_transaction(lambda s: outcomes(s, works))
    return await outcomes(None, works)


async def outcomes(session: AsyncSession | None, works: list[Work]) -> list[JournalOutcome]:
    duplicates = [w.id for w in works if w.status == "duplicate"]
    stored: dict[str, JournalView] = {}
    if duplicates:
        assert session is not None
        stored = await load_journals(session, duplicates)
    result = []
    for work in works:
        if work.status == "created":
            result.append(JournalOutcome(work.index, "created", journal=work.view))
        elif work.status == "duplicate":
            result.append(JournalOutcome(work.index, "duplicate", journal=stored[work.id]))
        else:
            result.append(JournalOutcome(work.index, "rejected", error=work.error))
    return result


async def load_journals(session: AsyncSession, ids: list[str]) -> dict[str, JournalView]:
    journals = (await session.execute(select(Journal).where(Journal.id.in_(ids)))).scalars().all()
    rows = (
        await session.execute(
            select(Entry, Account.code)
            .join(Account, Account.id == Entry.account_id)
            .where(Entry.journal_id.in_(ids))
            .order_by(Entry.id)
        )
    ).all()
    postings: dict[str, list[EntryView]] = {j.id: [] for j in journals}
    for entry, code in rows:
        # A journal committed between the two reads has entries but no row here: it did not
        # exist when we looked, so leave it out rather than half-read it.
        if entry.journal_id in postings:
            postings[entry.journal_id].append(entry_view(entry, code))
    return {
        j.id: JournalView(
            id=j.id,
            kind=j.kind,  # type: ignore[arg-type]
            description=j.description,
            metadata=dict(j.metadata_),
            postings=tuple(postings[j.id]),
            posted_at=j.posted_at,
            reverses_journal_id=j.reverses_journal_id,
            hold_id=j.hold_id,
        )
        for j in journals
    }


async def get_journal(session: AsyncSession, journal_id: str) -> JournalView:
    found = await load_journals(session, [journal_id])
    if journal_id not in found:
        raise PayHubError("journal_not_found", journal=journal_id)
    return found[journal_id]


async def reversal_of(session: AsyncSession, journal_id: str) -> str | None:
    return (
        await session.execute(select(Journal.id).where(Journal.reverses_journal_id == journal_id))
    ).scalar_one_or_none()


async def list_journals(
    session: AsyncSession,
    *,
    limit: int,
    starting_after: str | None = None,
    account_id: str | None = None,
) -> tuple[list[JournalView], bool]:
    """Newest first by posting time (then id), optionally only those touching an account."""
    query = select(Journal.id).order_by(Journal.posted_at.desc(), Journal.id.desc())
    if account_id is not None:
        query = query.where(
            Journal.id.in_(select(Entry.journal_id).where(Entry.account_id == account_id))
        )
    if starting_after is not None:
        anchor = await session.get(Journal, starting_after)
        if anchor is None:
            raise PayHubError("journal_not_found", param="starting_after", journal=starting_after)
        query = query.where(
            tuple_(Journal.posted_at, Journal.id) < tuple_(anchor.posted_at, anchor.id)
        )
    ids = list((await session.execute(query.limit(limit + 1))).scalars().all())
    views = await load_journals(session, ids[:limit])
    return [views[i] for i in ids[:limit]], len(ids) > limit


async def reverse_journal(
    session: AsyncSession,
    journal_id: str,
    *,
    reversal_id: str | None = None,
    description: str | None = None,
) -> tuple[JournalView, bool]:
    """Post the mirror image of a journal: the only way to correct one. A journal is reversed
    at most once (the database enforces it too); a repeat with the same reversal id returns
    the first reversal."""
    original = await get_journal(session, journal_id)
    if reversal_id is not None:
        existing = await load_journals(session, [reversal_id])
        if reversal_id in existing and existing[reversal_id].reverses_journal_id == journal_id:
            return existing[reversal_id], False
    if original.kind == "hold":
        raise PayHubError(
            "journal_not_reversible", journal=journal_id, detail="void the hold instead"
        )
    if original.kind == "reversal":
        raise PayHubError(
            "journal_not_reversible",
            journal=journal_id,
            detail="it is itself a reversal; post a new journal",
        )
    if await reversal_of(session, journal_id) is not None:
        raise PayHubError("journal_already_reversed", journal=journal_id)
    spec = JournalSpec(
        id=reversal_id,
        description=description or f"Reversal of {journal_id}",
        metadata={"reverses": journal_id},
        postings=tuple(
            PostingSpec(p.account_id, p.side.opposite, p.amount, p.currency)
            for p in original.postings
        ),
    )
    work = Work(index=0, kind="reversal", spec=spec, reverses_journal_id=journal_id)
    await Engine(session).run([work])
    (outcome,) = await outcomes(session, [work])
    if outcome.error is not None:
        if outcome.error.code in LIMIT_ERRORS and await reversal_of(session, journal_id):
            # A concurrent reversal committed while we waited for the balance locks; that,
            # not the limit, is the answer.
            raise PayHubError("journal_already_reversed", journal=journal_id)
        raise outcome.error
    assert outcome.journal is not None
    return outcome.journal, outcome.status == "created"
