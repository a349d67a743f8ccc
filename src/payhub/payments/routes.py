"""`/v1/payments` and `/v1/refunds`: create, confirm, capture, cancel, refund; the money
trail of a payment (its attempts and its ledger journals)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ReadWork, WriteWork
from payhub.auth.service import OPERATOR, Principal
from payhub.core.clock import to_rfc3339
from payhub.core.errors import PayHubError
from payhub.ledger.service import JournalView
from payhub.merchants import service as merchants
from payhub.payments import service
from payhub.payments.schemas import (
    CaptureIn,
    ConfirmIn,
    ListOut,
    PaymentIn,
    PaymentOut,
    RefundIn,
    RefundOut,
)

router = APIRouter(prefix="/v1", tags=["payments"])


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
    return PaymentOut.model_validate(service.payment_object(row))


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

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        row = await service.create_payment(
            session,
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

    return await uow.write(work)


@router.get("/payments/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        return _payment(await service.get_payment(session, payment_id, merchant_id=scope))

    return await uow.read(work)


@router.post("/payments/{payment_id}/confirm", response_model=PaymentOut)
async def confirm_payment(
    payment_id: str, uow: WriteWork, body: ConfirmIn | None = Body(default=None)
) -> Response:
    scope = _scope(uow.principal)
    cvv = body.cvv if body is not None else None

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return _payment(await service.confirm_payment(session, payment_id, scope, cvv)), 200

    return await uow.write(work)


@router.post("/payments/{payment_id}/capture", response_model=PaymentOut)
async def capture_payment(
    payment_id: str, uow: WriteWork, body: CaptureIn | None = Body(default=None)
) -> Response:
    scope = _scope(uow.principal)
    amount = body.amount if body is not None else None

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return _payment(await service.capture_payment(session, payment_id, scope, amount)), 200

    return await uow.write(work)


@router.post("/payments/{payment_id}/cancel", response_model=PaymentOut)
async def cancel_payment(payment_id: str, uow: WriteWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return _payment(await service.cancel_payment(session, payment_id, scope)), 200

    return await uow.write(work)


@router.get("/payments/{payment_id}/attempts", response_model=ListOut)
async def list_attempts(payment_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        rows = await service.list_attempts(session, payment_id, merchant_id=scope)
        return ListOut(data=[service.attempt_object(r) for r in rows])

    return await uow.read(work)


@router.get("/payments/{payment_id}/journals", response_model=ListOut)
async def list_journals(payment_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        views = await service.list_journals(session, payment_id, merchant_id=scope)
        return ListOut(data=[_journal(v) for v in views])

    return await uow.read(work)


@router.post("/refunds", status_code=201, response_model=RefundOut)
async def create_refund(body: RefundIn, uow: WriteWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        refund, _ = await service.create_refund(
            session,
            payment_id=body.payment,
            merchant_id=scope,
            amount=body.amount,
            reason=body.reason,
        )
        return RefundOut.model_validate(service.refund_object(refund)), 201

    return await uow.write(work)


@router.get("/refunds/{refund_id}", response_model=RefundOut)
async def get_refund(refund_id: str, uow: ReadWork) -> Response:
    scope = _scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        refund = await service.get_refund(session, refund_id, merchant_id=scope)
        return RefundOut.model_validate(service.refund_object(refund))

    return await uow.read(work)
