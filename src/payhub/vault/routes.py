"""`/v1/payment_methods`: tokenise a card or a bank account, read it back masked; and,
for a platform key holding the `detokenize` scope only, reveal it, audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import (
    ReadWork,
    UnitOfWork,
    WriteWork,
    get_db,
    get_principal,
    get_settings_dep,
)
from payhub.audit import service as audit
from payhub.auth.service import DETOKENIZE, OPERATOR, Principal
from payhub.core.config import Settings
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.vault import service
from payhub.vault.schemas import DetokenizedOut, DetokenizeIn, PaymentMethodIn, PaymentMethodOut

router = APIRouter(prefix="/v1", tags=["payment methods"])


@router.post("/payment_methods", status_code=201, response_model=PaymentMethodOut)
async def create_payment_method(body: PaymentMethodIn, uow: WriteWork) -> Response:
    merchant_id = merchants.acting_merchant(uow.principal, body.merchant)
    if body.type == "card" and (body.card is None or body.bank_account is not None):
        raise PayHubError("validation_error", param="card", detail="a card, and only a card")
    if body.type == "bank_account" and (body.bank_account is None or body.card is not None):
        raise PayHubError(
            "validation_error", param="bank_account", detail="a bank account, and only one"
        )
    if body.customer is not None and not is_id(body.customer, "cus"):
        raise PayHubError("invalid_id", param="customer")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        await merchants.require_active_merchant(session, merchant_id)
        if body.customer is not None:
            await merchants.get_customer(session, body.customer, merchant_id=merchant_id)
        if body.card is not None:
            card, created = await service.bind_card(
                session,
                merchant_id=merchant_id,
                customer_id=body.customer,
                pan=body.card.number,
                exp_month=body.card.exp_month,
                exp_year=body.card.exp_year,
                holder_name=body.card.holder_name,
            )
            return PaymentMethodOut.of_card(card), 201 if created else 200
        assert body.bank_account is not None
        account, created = await service.bind_bank_account(
            session,
            merchant_id=merchant_id,
            owner_ref=body.owner or body.customer or merchant_id,
            bank_code=body.bank_account.bank_code,
            account_number=body.bank_account.account_number,
            holder_name=body.bank_account.holder_name,
        )
        return PaymentMethodOut.of_bank_account(account, merchant_id), 201 if created else 200

    return await uow.write(work)


@router.get("/payment_methods/{token}", response_model=PaymentMethodOut)
async def get_payment_method(token: str, uow: ReadWork) -> Response:
    scope = merchants.read_scope(uow.principal)

    async def work(session: AsyncSession) -> BaseModel:
        if is_id(token, service.CARD_PREFIX):
            return PaymentMethodOut.of_card(
                await service.get_card(session, token, merchant_id=scope)
            )
        if is_id(token, service.BANK_ACCOUNT_PREFIX):
            account = await service.get_bank_account(session, token, merchant_id=scope)
            owner = scope or await service.bank_account_merchant(session, token)
            return PaymentMethodOut.of_bank_account(account, owner)
        raise PayHubError("invalid_id", param="token")

    return await uow.read(work)


def _is_token(value: str) -> bool:
    return is_id(value, service.CARD_PREFIX) or is_id(value, service.BANK_ACCOUNT_PREFIX)


async def _detokenizer(
    request: Request,
    db: Database = Depends(get_db),
    principal: Principal = Depends(get_principal),
    settings: Settings = Depends(get_settings_dep),
) -> UnitOfWork:
    """Platform keys holding `detokenize` (the `operator` scope alone is not enough; a
    merchant key never is). A platform key without it is refused, and the attempt recorded
    in the audit log."""
    if principal.role == OPERATOR and principal.has(DETOKENIZE):
        return UnitOfWork(request, db, principal, settings)
    if principal.role == OPERATOR:
        token = str(request.path_params.get("token", ""))
        # Only a well-formed token is recorded: a caller may have put a card number there.
        target = token if _is_token(token) else None
        await db.transact(
            lambda sql: audit.record(
                sql,
                f"{service.DETOKENIZED} refused",
                target_type="payment_method",
                target_id=target,
                details={"code": "permission_denied"},
            )
        )
    raise PayHubError("permission_denied", scope=DETOKENIZE)


DetokenizeWork = Annotated[UnitOfWork, Depends(_detokenizer)]


@router.post("/payment_methods/{token}/detokenize", response_model=DetokenizedOut)
async def detokenize_payment_method(
    token: str, body: DetokenizeIn, uow: DetokenizeWork
) -> Response:
    """The card or account number in clear, for a platform key with the `detokenize` scope;
    each use (who, which token, the `reason`) is written to the audit log in the same
    transaction. A replay of the request answers without the number."""
    if not _is_token(token):
        raise PayHubError("invalid_id", param="token")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        made = await service.detokenize(session, token, reason=body.reason)
        return DetokenizedOut.of(made), 200

    response = await uow.write(
        work, redact=lambda m: m.model_copy(update={"card": None, "bank_account": None})
    )
    # No cache on the way may keep a card number.
    response.headers["Cache-Control"] = "no-store"
    return response
