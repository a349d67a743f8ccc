"""`/v1/fee_plans`, `/v1/channel_cost_schedules`, `/v1/fees/quote`, a merchant's plan,
a payment's fees, and the margin and channel cost reports. Operator only, except a
payment's fees, which its merchant reads too (without the platform's cost and margin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork, ReadWork
from payhub.api.schemas import Limit, Timestamp, cursor
from payhub.auth.service import OPERATOR
from payhub.merchants import service as merchants
from payhub.merchants.schemas import MerchantOut
from payhub.settlement.fees import costs, margins, service
from payhub.settlement.fees.schemas import (
    AssignIn,
    CostReportOut,
    CostScheduleOut,
    CostVersionIn,
    ListOut,
    PaymentFeesOut,
    PlanIn,
    PlanOut,
    PlanVersionIn,
    QuoteOut,
    margin_object,
)

router = APIRouter(prefix="/v1", tags=["fees"])
PlanId = Annotated[str, Path(max_length=40)]
Scene = Literal["food_delivery", "group_buy", "local_services", "cross_border"]


@router.post("/fee_plans", status_code=201, response_model=PlanOut)
async def create_plan(body: PlanIn, uow: OperatorWork) -> Response:
    """A fee plan with its first version (in force from `effective_from`, default now)."""
    author = uow.principal.key_id

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.create_plan(
            session,
            name=body.name,
            currency=body.currency,
            rules=body.rules,
            channel_classes=body.channel_classes,
            refund_policy=body.refund_policy,
            default=body.default,
            effective_from=body.effective_from,
            note=body.note,
            created_by=author,
        )
        return PlanOut.of(view), 201

    return await uow.write(work)


@router.get("/fee_plans", response_model=ListOut)
async def list_plans(
    uow: OperatorWork, limit: Limit = 20, starting_after: str | None = None
) -> Response:
    after = cursor(starting_after, "fpl")

    async def work(session: AsyncSession) -> BaseModel:
        plans, more = await service.list_plans(session, limit=limit, starting_after=after)
        return ListOut(data=[PlanOut.of(p).model_dump() for p in plans], has_more=more)

    return await uow.read(work)


@router.get("/fee_plans/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: PlanId, uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return PlanOut.of(await service.get_plan(session, plan_id))

    return await uow.read(work)


@router.post("/fee_plans/{plan_id}/versions", status_code=201, response_model=PlanOut)
async def add_plan_version(plan_id: PlanId, body: PlanVersionIn, uow: OperatorWork) -> Response:
    """The plan's next version, in force from `effective_from` (now or later)."""
    author = uow.principal.key_id

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.add_plan_version(
            session,
            plan_id,
            currency=body.currency,
            rules=body.rules,
            channel_classes=body.channel_classes,
            refund_policy=body.refund_policy,
            effective_from=body.effective_from,
            note=body.note,
            created_by=author,
        )
        return PlanOut.of(view), 201

    return await uow.write(work)


@router.post("/fee_plans/{plan_id}/make_default", response_model=PlanOut)
async def make_default(plan_id: PlanId, uow: OperatorWork) -> Response:
    """The plan of every merchant that points to none."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return PlanOut.of(await service.make_default(session, plan_id)), 200

    return await uow.write(work)


@router.post("/merchants/{merchant_id}/fee_plan", response_model=MerchantOut)
async def assign_plan(
    merchant_id: Annotated[str, Path(max_length=40)], body: AssignIn, uow: OperatorWork
) -> Response:
    """Point a merchant to a fee plan (null: the default plan); audited."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.assign_plan(session, merchant_id, body.fee_plan)
        return MerchantOut.of(view), 200

    return await uow.write(work)


@router.post("/channel_cost_schedules", status_code=201, response_model=CostScheduleOut)
async def add_cost_version(body: CostVersionIn, uow: OperatorWork) -> Response:
    """A channel's next cost schedule version, in force from `effective_from`."""
    author = uow.principal.key_id

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.add_cost_version(
            session,
            body.channel,
            currency=body.currency,
            debit=body.debit.model_dump(),
            credit=body.credit.model_dump(),
            refund_returns_fee=body.refund_returns_fee,
            effective_from=body.effective_from,
            note=body.note,
            created_by=author,
        )
        return CostScheduleOut.of(view), 201

    return await uow.write(work)


@router.get("/channel_cost_schedules", response_model=ListOut)
async def list_cost_schedules(uow: OperatorWork) -> Response:
    """Every card channel's schedule in force now (its list prices when none is set)."""

    async def work(session: AsyncSession) -> BaseModel:
        views = await service.schedules_in_force(session)
        return ListOut(data=[CostScheduleOut.of(v).model_dump() for v in views])

    return await uow.read(work)


@router.get("/channel_cost_schedules/{channel_id}", response_model=ListOut)
async def cost_versions(
    channel_id: Annotated[str, Path(max_length=64)], uow: OperatorWork
) -> Response:
    """A channel's configured versions, oldest first."""

    async def work(session: AsyncSession) -> BaseModel:
        views = await service.cost_versions(session, channel_id)
        return ListOut(data=[CostScheduleOut.of(v).model_dump() for v in views])

    return await uow.read(work)


@router.get("/fees/quote", response_model=QuoteOut)
async def quote(
    uow: OperatorWork,
    merchant: Annotated[str, Query(max_length=40)],
    amount: Annotated[int, Query(ge=1, le=2**63 - 1)],
    channel: Annotated[str, Query(max_length=64)],
    currency: Annotated[str, Query(max_length=8)] = "CNY",
    card_type: Literal["debit", "credit"] = "debit",
    scene: Scene = "local_services",
) -> Response:
    """What a payment captured now would be charged, would cost, and would leave."""
    merchant_id = merchants.visible_merchant_id(uow.principal, merchant)

    async def work(session: AsyncSession) -> BaseModel:
        found = await service.quote(
            session,
            merchant_id=merchant_id,
            amount=amount,
            currency=currency,
            card_type=card_type,
            channel_id=channel,
            scene=scene,
        )
        return QuoteOut.of(found)

    return await uow.read(work)


@router.get("/payments/{payment_id}/fees", response_model=PaymentFeesOut)
async def payment_fees(payment_id: Annotated[str, Path(max_length=40)], uow: ReadWork) -> Response:
    """What the payment was charged (its merchant sees this much), what its channel cost
    and the margin left (the operator only)."""
    operator = uow.principal.role == OPERATOR
    scope = merchants.read_scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        fees = await margins.payment_fees(session, payment_id, merchant_id=scope)
        return PaymentFeesOut.of(payment_id, fees, operator=operator)

    return await uow.read(work)


@router.get("/reports/fees", response_model=ListOut)
async def fee_report(
    uow: OperatorWork,
    group_by: Literal["merchant", "channel", "card_type", "channel_class", "scene"] = "merchant",
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
) -> Response:
    """Merchant fees, channel costs and margin (net of refunds) of the payments first
    captured in `[from, to)`, per group and currency."""

    async def work(session: AsyncSession) -> BaseModel:
        lines = await margins.margin_report(session, group_by=group_by, start=start, end=end)
        return ListOut(data=[margin_object(group_by, x) for x in lines])

    return await uow.read(work)


@router.get("/reports/channel_costs", response_model=CostReportOut)
async def channel_cost_report(
    uow: OperatorWork,
    start: Annotated[Timestamp | None, Query(alias="from")] = None,
    end: Annotated[Timestamp | None, Query(alias="to")] = None,
) -> Response:
    """Channel fees actually paid for the payments first captured in `[from, to)`, against
    the same traffic at list prices and on the static route."""

    async def work(session: AsyncSession) -> BaseModel:
        return CostReportOut.of(await costs.channel_cost_report(session, start=start, end=end))

    return await uow.read(work)
