"""`/v1/payees` and `/v1/payouts`: bind a bank account as a payout destination, verify it,
withdraw available funds to it, and follow the payouts.

An instant payout is sent at once: 201 once the rail answered (`paid` or `failed`), 202
while its answer is awaited. A standard payout answers 202 `pending`: the dispatcher
(`payouts.dispatch`) sends it, and webhooks tell how it ends."""

from __future__ import annotations

from fastapi import APIRouter, Body
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ReadWork, Store, WriteWork
from payhub.api.schemas import Limit, cursor
from payhub.auth.service import OPERATOR, Principal
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.settlement.payouts import flow, service
from payhub.settlement.payouts.schemas import (
    ListOut,
    ObjectOut,
    PayeeIn,
    PayoutIn,
    PayoutStatus,
    VerifyIn,
)

router = APIRouter(prefix="/v1", tags=["payouts"])


def _scope(principal: Principal) -> str | None:
    return None if principal.role == OPERATOR else principal.merchant_id


def _owner(principal: Principal, requested: str | None) -> str:
    """The merchant a new object is for: the key's own, or (operator) the one named."""
    if principal.role == OPERATOR:
        if requested is None:
            raise PayHubError("validation_error", param="merchant", detail="required")
        return merchants.visible_merchant_id(principal, requested)
    if requested is not None:
        merchants.visible_merchant_id(principal, requested)
    assert principal.merchant_id is not None
    return principal.merchant_id


@router.post("/payees", status_code=201, response_model=ObjectOut)
async def create_payee(body: PayeeIn, uow: WriteWork) -> Response:
    merchant_id = _owner(uow.principal, body.merchant)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        row = await service.register_payee(
            session,
            merchant_id=merchant_id,
            bank_account=body.bank_account,
            role=body.role,
            daily_limit=body.daily_limit,
            split_cap=body.split_cap,
        )
        return ObjectOut.model_validate(service.payee_object(row)), 201

    return await uow.write(work)


@router.get("/payees", response_model=ListOut)
async def list_payees(
    uow: ReadWork, limit: Limit = 20, starting_after: str | None = None
) -> Response:
    after = cursor(starting_after, "pye")
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await service.list_payees(
            session, merchant_id=scope, limit=limit, starting_after=after
        )
        return ListOut(data=[service.payee_object(r) for r in rows], has_more=more)

    return await uow.read(work)


@router.get("/payees/{payee_id}", response_model=ObjectOut)
async def get_payee(payee_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        row = await service.get_payee(session, payee_id, merchant_id=scope)
        return ObjectOut.model_validate(service.payee_object(row))

    return await uow.read(work)


@router.post("/payees/{payee_id}/verify", response_model=ObjectOut)
async def verify_payee(
    payee_id: str, uow: WriteWork, body: VerifyIn | None = Body(default=None)
) -> Response:
    """`penny_drop` (any key, its own payees) or `operator` (operator keys only)."""
    scope = _scope(uow.principal)
    method = body.method if body is not None else "penny_drop"

    async def flow_(db: Database, _store: Store) -> tuple[BaseModel, int]:
        if method == "operator":
            # The payee must be visible before a merchant learns it may not do this.
            await db.run_in_transaction(lambda s: service.get_payee(s, payee_id, merchant_id=scope))
            if scope is not None:
                raise PayHubError("permission_denied", scope=OPERATOR)
            row = await db.run_in_transaction(
                lambda s: service.mark_verified(s, payee_id, by="operator")
            )
        else:
            row = await flow.penny_drop(db, payee_id, merchant_id=scope)
        return ObjectOut.model_validate(service.payee_object(row)), 200

    return await uow.write_flow(flow_)


@router.post(
    "/payouts",
    status_code=201,
    response_model=ObjectOut,
    responses={202: {"model": ObjectOut, "description": "Pending, or in transit: not settled"}},
)
async def create_payout(body: PayoutIn, uow: WriteWork) -> Response:
    """201 once an instant payout's rail answered; 202 while it is pending or in transit.
    A large amount split over several real-time payouts answers with the first; all of
    them share its `group` (`GET /v1/payouts?group=…`)."""
    merchant_id = _owner(uow.principal, body.merchant)
    order = service.PayoutOrder(
        merchant_id=merchant_id,
        amount=body.amount,
        currency=body.currency,
        destination=body.destination,
        rail=body.rail,
        instant=body.instant,
    )

    async def flow_(db: Database, _store: Store) -> tuple[BaseModel, int]:
        rows = await flow.create_and_send(db, order)
        first = rows[0]
        settled = all(r.status in ("paid", "failed", "returned") for r in rows)
        return ObjectOut.model_validate(service.payout_object(first)), 201 if settled else 202

    return await uow.write_flow(flow_)


@router.get("/payouts", response_model=ListOut)
async def list_payouts(
    uow: ReadWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    merchant: str | None = None,
    status: PayoutStatus | None = None,
    payee: str | None = None,
    group: str | None = None,
    split_batch: str | None = None,
) -> Response:
    """Newest first. A merchant key lists its own payouts; the operator may name one."""
    after = cursor(starting_after, "po")
    scope = _scope(uow.principal)
    if merchant is not None:
        scope = merchants.visible_merchant_id(uow.principal, merchant)
    filters = service.PayoutFilter(
        merchant_id=scope, status=status, payee_id=payee, group_id=group, split_batch_id=split_batch
    )

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await service.list_payouts(session, filters, limit=limit, starting_after=after)
        return ListOut(data=[service.payout_object(r) for r in rows], has_more=more)

    return await uow.read(work)


@router.get("/payouts/{payout_id}", response_model=ObjectOut)
async def get_payout(payout_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        row = await service.get_payout(session, payout_id, merchant_id=scope)
        return ObjectOut.model_validate(service.payout_object(row))

    return await uow.read(work)
