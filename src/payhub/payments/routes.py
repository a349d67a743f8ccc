"""`/v1/payments` and `/v1/refunds`: create, list, confirm, capture, cancel, refund; the
money trail of a payment (its attempts and its ledger journals).

Confirm, capture, cancel and refund call a bank channel between transactions
(`payhub.payments.orchestrator`). They answer 200 (201 for a refund) once the channel's
answer is recorded, and 202 Accepted while it is still unknown: the payment then shows its
`pending_attempt`, and a webhook tells the outcome when the resolver has it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ReadWork, Store, UnitOfWork, WriteWork, work_for
from payhub.api.schemas import Limit, Timestamp, cursor
from payhub.auth.service import OPERATOR, Principal
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.db.sql import Sql
from payhub.ledger.service import JournalView
from payhub.merchants import service as merchants
from payhub.payments import orchestrator, reports, service
from payhub.payments.objects import attempt_object, payment_object, refund_object
from payhub.payments.schemas import (
    CaptureIn,
    ConfirmIn,
    ListOut,
    PaymentIn,
    PaymentOut,
    PaymentStatus,
    RefundIn,
    RefundOut,
    Scene,
)
from payhub.payments.service import Step
from payhub.risk.decisions.features import Signals

router = APIRouter(prefix="/v1", tags=["payments"])
RefundWork = Annotated[UnitOfWork, Depends(work_for("refunds"))]


def _creator(principal: Principal, requested: str | None) -> str:
    """The merchant a new payment is for: the key's own, or (operator) the one named."""
    if principal.role == OPERATOR:
        if requested is None:
            raise PayHubError("validation_error", param="merchant", detail="required")
        return merchants.visible_merchant_id(principal, requested)
    if requested is not None:
        merchants.visible_merchant_id(principal, requested)
    assert principal.merchant_id is not None
    return principal.merchant_id


def _scope(principal: Principal) -> str | None:
    """Whose objects the caller reaches: its merchant's, or (operator) everyone's."""
    return None if principal.role == OPERATOR else principal.merchant_id


def _payment(row: Any) -> PaymentOut:
    return PaymentOut.model_validate(payment_object(row))


def _answer(step: Step, done: int = 200) -> tuple[BaseModel, int]:
    """The payment, with 202 while a channel's answer is still awaited."""
    return _payment(step.payment), done if step.settled else 202


def _settle(store: Store) -> orchestrator.Settle:
    """Keep the flow's answer for replays in the transaction that records its last step."""

    async def settle(sql: Sql, step: Step) -> None:
        await store(sql, *_answer(step))

    return settle


def _journal(view: JournalView) -> dict[str, Any]:
    return {
        "id": view.id,
        "object": "journal",
        "kind": view.kind,
        "description": view.description,
        "metadata": dict(view.metadata),
        "posted_at": to_rfc3339(view.posted_at),
        "postings": [
            {
                "account": e.account_code,
                "side": e.side.value,
                "amount": e.amount,
                "currency": e.currency,
            }
            for e in view.postings
        ],
    }


@router.post("/payments", status_code=201, response_model=PaymentOut)
async def create_payment(body: PaymentIn, uow: WriteWork) -> Response:
    merchant_id = _creator(uow.principal, body.merchant)

    async def work(sql: Sql) -> tuple[BaseModel, int]:
        row = await service.create_payment(
            sql,
            merchant_id=merchant_id,
            amount=body.amount,
            currency=body.currency,
            payment_method=body.payment_method,
            customer_id=body.customer,
            capture_method=body.capture_method,
            scene=body.scene,
            description=body.description,
            metadata=body.metadata,
        )
        return _payment(row), 201

    return await uow.write_sql(work)


@router.get("/payments", response_model=ListOut)
async def list_payments(
    uow: ReadWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    merchant: str | None = None,
    status: PaymentStatus | None = None,
    customer: str | None = None,
    scene: Scene | None = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
) -> Response:
    """Newest first. A merchant key lists its own payments; the operator may name one."""
    after = cursor(starting_after, "pay")
    scope = _scope(uow.principal)
    if merchant is not None:
        scope = merchants.visible_merchant_id(uow.principal, merchant)
    filters = service.PaymentFilter(
        merchant_id=scope,
        status=status,
        customer_id=customer,
        scene=scene,
        created_from=created_from,
        created_to=created_to,
    )

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await service.list_payments(
            session, filters, limit=limit, starting_after=after
        )
        return ListOut(data=[payment_object(r) for r in rows], has_more=more)

    return await uow.read(work)


@router.get("/payments/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        return _payment(await service.get_payment(session, payment_id, merchant_id=scope))

    return await uow.read(work)


def _signals(body: ConfirmIn | None) -> Signals:
    if body is None:
        return Signals()
    where = body.location
    return Signals(
        device_id=body.device_id,
        ip=str(body.ip) if body.ip is not None else None,
        latitude=where.latitude if where is not None else None,
        longitude=where.longitude if where is not None else None,
    )


@router.post("/payments/{payment_id}/confirm", response_model=PaymentOut)
async def confirm_payment(
    payment_id: str, uow: WriteWork, body: ConfirmIn | None = Body(default=None)
) -> Response:
    scope = _scope(uow.principal)
    cvv = body.cvv if body is not None else None
    signals = _signals(body)

    async def flow(db: Database, store: Store) -> tuple[BaseModel, int]:
        step = await orchestrator.confirm_payment(
            db, payment_id, scope, cvv, signals=signals, settle=_settle(store)
        )
        return _answer(step)

    return await uow.write_flow(flow)


@router.post("/payments/{payment_id}/capture", response_model=PaymentOut)
async def capture_payment(
    payment_id: str, uow: WriteWork, body: CaptureIn | None = Body(default=None)
) -> Response:
    scope = _scope(uow.principal)
    amount = body.amount if body is not None else None

    async def flow(db: Database, store: Store) -> tuple[BaseModel, int]:
        step = await orchestrator.capture_payment(
            db, payment_id, scope, amount, settle=_settle(store)
        )
        return _answer(step)

    return await uow.write_flow(flow)


@router.post("/payments/{payment_id}/cancel", response_model=PaymentOut)
async def cancel_payment(payment_id: str, uow: WriteWork) -> Response:
    scope = _scope(uow.principal)

    async def flow(db: Database, store: Store) -> tuple[BaseModel, int]:
        return _answer(
            await orchestrator.cancel_payment(db, payment_id, scope, settle=_settle(store))
        )

    return await uow.write_flow(flow)


@router.get("/payments/{payment_id}/attempts", response_model=ListOut)
async def list_attempts(payment_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        rows = await service.list_attempts(session, payment_id, merchant_id=scope)
        return ListOut(data=[attempt_object(r) for r in rows])

    return await uow.read(work)


@router.get("/payments/{payment_id}/journals", response_model=ListOut)
async def list_journals(payment_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        views = await service.list_journals(session, payment_id, merchant_id=scope)
        return ListOut(data=[_journal(v) for v in views])

    return await uow.read(work)


@router.post("/refunds", status_code=201, response_model=RefundOut)
async def create_refund(body: RefundIn, uow: RefundWork) -> Response:
    """Needs the `refunds` scope. 201 once the channel answered (the refund `succeeded` or
    `failed`); 202 while its answer is awaited (the refund stays `pending`)."""
    scope = _scope(uow.principal)

    async def flow(db: Database, _store: Store) -> tuple[BaseModel, int]:
        step = await orchestrator.refund_payment(
            db, payment_id=body.payment, merchant_id=scope, amount=body.amount, reason=body.reason
        )
        assert step.refund is not None
        status = 202 if step.refund.status == "pending" else 201
        return RefundOut.model_validate(refund_object(step.refund)), status

    return await uow.write_flow(flow)


@router.get("/refunds", response_model=ListOut)
async def list_refunds(
    uow: ReadWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    payment: str | None = None,
) -> Response:
    """Newest first; `payment` narrows to one payment's refunds."""
    after = cursor(starting_after, "re")
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        rows, more = await service.list_refunds(
            session, merchant_id=scope, payment_id=payment, limit=limit, starting_after=after
        )
        return ListOut(data=[refund_object(r) for r in rows], has_more=more)

    return await uow.read(work)


@router.get("/refunds/{refund_id}", response_model=RefundOut)
async def get_refund(refund_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        refund = await service.get_refund(session, refund_id, merchant_id=scope)
        return RefundOut.model_validate(refund_object(refund))

    return await uow.read(work)


@router.get("/reports/payments", response_model=ListOut)
async def payment_report(
    uow: ReadWork,
    group_by: reports.GroupBy = "scene",
    merchant: str | None = None,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
) -> Response:
    """Counts and amounts per scene (or channel, or status) and currency over a period. A
    merchant key sees its own payments; the operator everyone's, or one merchant's."""
    scope = _scope(uow.principal)
    if merchant is not None:
        scope = merchants.visible_merchant_id(uow.principal, merchant)

    async def work(session: AsyncSession) -> BaseModel:
        rows = await reports.payment_summary(
            session,
            group_by=group_by,
            merchant_id=scope,
            created_from=created_from,
            created_to=created_to,
        )
        return ListOut(
            data=[
                {
                    "object": "payment_summary",
                    group_by: row.key,
                    "currency": row.currency,
                    "payments": row.payments,
                    "confirmed": row.confirmed,
                    "authorised": row.authorised,
                    "authorisation_rate": row.authorisation_rate,
                    "amount": row.amount,
                    "amount_captured": row.captured,
                    "amount_refunded": row.refunded,
                }
                for row in rows
            ]
        )

    return await uow.read(work)
