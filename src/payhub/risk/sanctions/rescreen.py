"""Screening every merchant and customer again after a list changes.

The job `sanctions.rescreen` (and `payhub sanctions rescreen`) screens all parties in
pages of `PAGE`, one transaction a page, against the lists in force, then marks the
versions that were waiting as rescreened. If it stops half-way, the versions stay
waiting and the next run starts over: a party may be screened twice, but a potential
match raises one hit (hits are keyed by subject, name and entry).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from payhub.db.session import Database
from payhub.merchants import service as parties
from payhub.risk.sanctions import registry, screening

PAGE = 200
Progress = Callable[[int], None]
Page = Callable[..., Awaitable[tuple[int, int, str | None]]]


@dataclass(frozen=True, slots=True)
class RescreenResult:
    subjects: int
    potential_matches: int
    versions: list[str]


async def count_subjects(db: Database) -> int:
    async def count(session: AsyncSession) -> int:
        return await parties.count_merchants(session) + await parties.count_customers(session)

    return await db.run_in_transaction(count)


async def _merchant_page(session: AsyncSession, after: str | None) -> tuple[int, int, str | None]:
    views, _ = await parties.list_merchants(session, limit=PAGE, starting_after=after)
    matches = 0
    for v in views:
        done = await screening.screen_subject(
            session,
            subject_type="merchant",
            subject_id=v.id,
            names=[v.name, *([v.legal_name] if v.legal_name else [])],
            reason="rescreen",
        )
        matches += done.outcome == "potential_match"
    return len(views), matches, views[-1].id if views else None


async def _customer_page(session: AsyncSession, after: str | None) -> tuple[int, int, str | None]:
    views, _ = await parties.list_customers(
        session, merchant_id=None, limit=PAGE, starting_after=after
    )
    matches = 0
    for v in views:
        done = await screening.screen_subject(
            session,
            subject_type="customer",
            subject_id=v.id,
            names=[v.name],
            reason="rescreen",
            country=v.home_region[:2] if v.home_region else None,
        )
        matches += done.outcome == "potential_match"
    return len(views), matches, views[-1].id if views else None


async def rescreen_all(db: Database, *, progress: Progress | None = None) -> RescreenResult:
    """Screen every merchant and customer against the lists in force; `progress` hears
    how many were screened after each page."""
    waiting = await db.run_in_transaction(registry.pending_rescreen)
    subjects = matches = 0
    pages: tuple[Page, ...] = (_merchant_page, _customer_page)
    for page in pages:
        after: str | None = None
        while True:
            count, found, after = await db.run_in_transaction(partial(page, after=after))
            subjects += count
            matches += found
            if progress is not None and count:
                progress(count)
            if count < PAGE:
                break
    await db.run_in_transaction(lambda s: registry.mark_rescreened(s, waiting))
    return RescreenResult(subjects, matches, waiting)


async def rescreen_pending(db: Database) -> int:
    """The job: rescreen everyone once a list version is waiting for it; how many parties
    were screened."""
    if not await db.run_in_transaction(registry.pending_rescreen):
        return 0
    return (await rescreen_all(db)).subjects
