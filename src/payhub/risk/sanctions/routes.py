"""HTTP routes of sanctions screening: compliance's (the operator, or a key with the
`compliance` scope); merchant keys are refused."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ComplianceWork
from payhub.api.schemas import Limit, ListResponse, cursor
from payhub.core.errors import PayHubError
from payhub.risk.sanctions import hits, lists, registry, screening
from payhub.risk.sanctions.models import HIT_PREFIX, SCREENING_PREFIX, VERSION_PREFIX
from payhub.risk.sanctions.schemas import (
    DecisionIn,
    HitOut,
    ListIn,
    ListVersionOut,
    ScreenIn,
    ScreeningOut,
)

router = APIRouter(prefix="/v1/sanctions", tags=["sanctions"])


# A party's id: a customer's, a merchant's, or (later) a payout beneficiary's.
_PARTY_ID = re.compile(r"[a-z]{2,8}_[0-9A-Z]{26}")


def _subject(value: str | None) -> str | None:
    if value is not None and not _PARTY_ID.fullmatch(value):
        raise PayHubError("invalid_id", param="subject")
    return value


@router.post(
    "/lists",
    status_code=201,
    response_model=ListVersionOut,
    responses={200: {"model": ListVersionOut, "description": "The list's current version."}},
)
async def load_list(body: ListIn, uow: ComplianceWork) -> Response:
    """Load (replace) a watch list. 201 with the new version; 200 when the content is the
    list's current version already. Every party is screened again by the
    `sanctions.rescreen` job (or `payhub sanctions rescreen`)."""
    # Read before the transaction: a bad file is refused without touching anything.
    name, entries = lists.parse(body.content, body.format, body.list)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view, created = await registry.load_list(session, name, body.format, entries)
        return ListVersionOut.of(view, created), 201 if created else 200

    return await uow.write(work)


@router.get("/lists", response_model=ListResponse[ListVersionOut])
async def list_lists(
    uow: ComplianceWork, limit: Limit = 20, starting_after: str | None = None
) -> Response:
    """Every version of every list, newest first; `current` marks the ones in force."""
    after = cursor(starting_after, VERSION_PREFIX)

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await registry.list_versions(session, limit=limit, starting_after=after)
        return ListResponse[ListVersionOut](
            data=[ListVersionOut.of(v) for v in views], has_more=more
        )

    return await uow.read(work)


@router.post("/screen", response_model=ScreeningOut)
async def screen(body: ScreenIn, uow: ComplianceWork) -> Response:
    """Screen a name now (recorded; raises no hits for compliance to decide)."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await screening.screen_ad_hoc(
            session,
            body.name,
            birth_date=body.birth_date,
            country=body.country,
            entry_type=body.type,
            threshold=body.threshold,
        )
        return ScreeningOut.of(view), 200

    return await uow.write(work)


@router.get("/screenings", response_model=ListResponse[ScreeningOut])
async def list_screenings(
    uow: ComplianceWork,
    subject: str | None = None,
    outcome: Literal["clear", "potential_match"] | None = None,
    limit: Limit = 20,
    starting_after: str | None = None,
) -> Response:
    """Screenings, newest first: of one party (`subject`: its id), or by outcome."""
    after = cursor(starting_after, SCREENING_PREFIX)
    subject_id = _subject(subject)

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await hits.list_screenings(
            session, subject_id=subject_id, outcome=outcome, limit=limit, starting_after=after
        )
        data = [ScreeningOut.of(screening.ScreeningView.of(r)) for r in rows]
        return ListResponse[ScreeningOut](data=data, has_more=more)

    return await uow.read(work)


@router.get("/hits", response_model=ListResponse[HitOut])
async def list_hits(
    uow: ComplianceWork,
    status: Literal["open", "cleared", "confirmed"] | None = None,
    subject: str | None = None,
    limit: Limit = 20,
    starting_after: str | None = None,
) -> Response:
    """Potential matches, newest first, by status (`open`: awaiting a decision) and party."""
    after = cursor(starting_after, HIT_PREFIX)
    subject_id = _subject(subject)

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await hits.list_hits(
            session, status=status, subject_id=subject_id, limit=limit, starting_after=after
        )
        return ListResponse[HitOut](data=[HitOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/hits/{hit_id}", response_model=HitOut)
async def get_hit(hit_id: str, uow: ComplianceWork) -> Response:
    hits.check_hit_id(hit_id)

    async def work(session: AsyncSession) -> BaseModel:
        return HitOut.of(await hits.get_hit(session, hit_id))

    return await uow.read(work)


async def _decide(
    hit_id: str, decision: hits.Decision, body: DecisionIn, uow: ComplianceWork
) -> Response:
    hits.check_hit_id(hit_id)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return HitOut.of(await hits.decide(session, hit_id, decision, reason=body.reason)), 200

    return await uow.write(work)


@router.post("/hits/{hit_id}/clear", response_model=HitOut)
async def clear_hit(hit_id: str, body: DecisionIn, uow: ComplianceWork) -> Response:
    """Not the listed party (a false positive): closed, with the reason, in the audit log."""
    return await _decide(hit_id, "cleared", body, uow)


@router.post("/hits/{hit_id}/confirm", response_model=HitOut)
async def confirm_hit(hit_id: str, body: DecisionIn, uow: ComplianceWork) -> Response:
    """The listed party indeed: recorded, with the reason, in the audit log. What follows
    (suspending the merchant, a report) is compliance's next step."""
    return await _decide(hit_id, "confirmed", body, uow)
