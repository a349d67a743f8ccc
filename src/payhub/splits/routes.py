"""`/v1/split_batches`: a group leader's batch for a round, its per-receiver status, and
retries of failed lines.

Creating a batch checks and books it in one transaction (201, lines `pending`); the
payouts to the receivers' bank accounts are then sent by the worker (`splits.run`), or
at once from the command line (`payhub splits run`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ReadWork, WriteWork
from payhub.api.schemas import Limit, cursor
from payhub.auth.service import OPERATOR, Principal
from payhub.core.errors import PayHubError
from payhub.merchants import service as merchants
from payhub.settlement.payouts.schemas import ListOut, ObjectOut
from payhub.splits import service
from payhub.splits.schemas import CutIn, SplitBatchIn

router = APIRouter(prefix="/v1", tags=["split payouts"])


def _scope(principal: Principal) -> str | None:
    return None if principal.role == OPERATOR else principal.merchant_id


def _leader(principal: Principal, requested: str | None) -> str:
    if principal.role == OPERATOR:
        if requested is None:
            raise PayHubError("validation_error", param="merchant", detail="required")
        return merchants.visible_merchant_id(principal, requested)
    if requested is not None:
        merchants.visible_merchant_id(principal, requested)
    assert principal.merchant_id is not None
    return principal.merchant_id


def _cut(cut: CutIn) -> service.Cut:
    return service.Cut(amount=cut.amount, bps=cut.bps)


async def _view(session: AsyncSession, batch_id: str, merchant_id: str | None) -> BaseModel:
    batch = await service.get_batch(session, batch_id, merchant_id=merchant_id)
    lines = await service.sync_lines(session, batch.id)
    body = service.batch_object(batch, service.summarize(lines))
    body["lines"] = [service.line_object(line) for line in lines]
    return ObjectOut.model_validate(body)


@router.post("/split_batches", status_code=201, response_model=ObjectOut)
async def create_split_batch(body: SplitBatchIn, uow: WriteWork) -> Response:
    leader = _leader(uow.principal, body.merchant)
    order = service.BatchOrder(
        merchant_id=leader,
        currency=body.currency,
        lines=[service.LineIn(x.receiver, x.amount, x.share_bps) for x in body.lines],
        payments=tuple(body.payments),
        round=body.round,
        platform_commission=_cut(body.platform_commission),
        leader_commission=_cut(body.leader_commission),
        clawback=body.clawback,
        delivery=body.delivery,
    )

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        batch = await service.create_batch(session, order)
        return await _view(session, batch.id, None), 201

    return await uow.write(work)


@router.get("/split_batches", response_model=ListOut)
async def list_split_batches(
    uow: ReadWork, limit: Limit = 20, starting_after: str | None = None
) -> Response:
    after = cursor(starting_after, "spb")
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await service.list_batches(
            session, merchant_id=scope, limit=limit, starting_after=after
        )
        counts = await service.line_counts(session, [r.id for r in rows])
        return ListOut(data=[service.batch_object(r, counts[r.id]) for r in rows], has_more=more)

    return await uow.read(work)


@router.get("/split_batches/{batch_id}", response_model=ObjectOut)
async def get_split_batch(batch_id: str, uow: ReadWork) -> Response:
    """The batch with every line's status (`pending`, `paid`, `failed`) and payout."""
    scope = _scope(uow.principal)
    return await uow.read(lambda session: _view(session, batch_id, scope))


@router.post("/split_batches/{batch_id}/retry", response_model=ObjectOut)
async def retry_split_batch(batch_id: str, uow: WriteWork) -> Response:
    """Failed lines go back to `pending`; the worker sends them again."""
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        await service.retry_failed(session, batch_id, merchant_id=scope)
        return await _view(session, batch_id, scope), 200

    return await uow.write(work)
