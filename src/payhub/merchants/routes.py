"""HTTP routes of merchants (operator), customers and merchant keys."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork, ReadWork, WriteWork
from payhub.api.schemas import Limit, ListResponse, cursor
from payhub.auth import service as auth
from payhub.auth.routes import default_algorithm
from payhub.auth.schemas import LimitIn, RollIn, SigningIn, SigningSecretOut
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id
from payhub.merchants import service
from payhub.merchants.schemas import (
    CustomerIn,
    CustomerOut,
    KeyIn,
    KeyOut,
    MerchantIn,
    MerchantOut,
    MerchantUpdateIn,
)

router = APIRouter(prefix="/v1", tags=["merchants"])


@router.post("/merchants", status_code=201, response_model=MerchantOut)
async def create_merchant(body: MerchantIn, uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.create_merchant(
            session,
            service.MerchantSpec(
                name=body.name,
                currency=body.currency,
                legal_name=body.legal_name,
                per_payment_limit=body.per_payment_limit,
                daily_limit=body.daily_limit,
                metadata=body.metadata,
            ),
        )
        return MerchantOut.of(view), 201

    return await uow.write(work)


@router.get("/merchants", response_model=ListResponse[MerchantOut])
async def list_merchants(
    uow: OperatorWork, limit: Limit = 20, starting_after: str | None = None
) -> Response:
    after = cursor(starting_after, "mer")

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_merchants(session, limit=limit, starting_after=after)
        return ListResponse[MerchantOut](data=[MerchantOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/merchants/{merchant_id}", response_model=MerchantOut)
async def get_merchant(merchant_id: str, uow: ReadWork) -> Response:
    visible = service.visible_merchant_id(uow.principal, merchant_id)

    async def work(session: AsyncSession) -> BaseModel:
        return MerchantOut.of(await service.get_merchant(session, visible))

    return await uow.read(work)


@router.post("/merchants/{merchant_id}", response_model=MerchantOut)
async def update_merchant(merchant_id: str, body: MerchantUpdateIn, uow: OperatorWork) -> Response:
    visible = service.visible_merchant_id(uow.principal, merchant_id)
    limits = {
        name: getattr(body, name)
        for name in ("per_payment_limit", "daily_limit")
        if name in body.model_fields_set
    }

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.update_merchant(
            session,
            visible,
            name=body.name,
            status=body.status,
            metadata=body.metadata,
            **limits,
        )
        return MerchantOut.of(view), 200

    return await uow.write(work)


@router.post("/merchants/{merchant_id}/api_keys", status_code=201, response_model=KeyOut)
async def create_merchant_key(merchant_id: str, body: KeyIn, uow: OperatorWork) -> Response:
    visible = service.visible_merchant_id(uow.principal, merchant_id)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        issued = await service.issue_merchant_key(
            session, visible, name=body.name, scopes=list(body.scopes)
        )
        return KeyOut.of(await auth.get_key(session, issued.id), issued), 201

    # The key is shown once: a replay of this request says which key was made, not the key.
    return await uow.write(work, redact=lambda m: m.model_copy(update={"secret": None}))


@router.get("/merchants/{merchant_id}/api_keys", response_model=ListResponse[KeyOut])
async def list_merchant_keys(merchant_id: str, uow: OperatorWork) -> Response:
    visible = service.visible_merchant_id(uow.principal, merchant_id)

    async def work(session: AsyncSession) -> BaseModel:
        await service.get_merchant(session, visible)
        views = await auth.list_keys(session, merchant_id=visible)
        return ListResponse[KeyOut](data=[KeyOut.of(v) for v in views], has_more=False)

    return await uow.read(work)


@router.post("/merchants/{merchant_id}/api_keys/{key_id}/revoke", response_model=KeyOut)
async def revoke_merchant_key(merchant_id: str, key_id: str, uow: OperatorWork) -> Response:
    visible = service.visible_merchant_id(uow.principal, merchant_id)
    if not is_id(key_id, "key"):
        raise PayHubError("invalid_id", param="key_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return KeyOut.of(await auth.revoke_key(session, key_id, merchant_id=visible)), 200

    return await uow.write(work)


@router.post(
    "/merchants/{merchant_id}/api_keys/{key_id}/roll", status_code=201, response_model=KeyOut
)
async def roll_merchant_key(
    merchant_id: str, key_id: str, uow: OperatorWork, body: RollIn | None = None
) -> Response:
    """A new key (shown once) with the same scopes; the old one keeps working for the
    overlap (`overlap_seconds`, default a day), so the merchant can switch without an
    outage."""
    visible = service.visible_merchant_id(uow.principal, merchant_id)
    if not is_id(key_id, "key"):
        raise PayHubError("invalid_id", param="key_id")
    overlap = timedelta(seconds=(body or RollIn()).overlap_seconds)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        issued = await auth.roll_key(session, key_id, overlap=overlap, merchant_id=visible)
        return KeyOut.of(await auth.get_key(session, issued.id), issued), 201

    return await uow.write(work, redact=lambda m: m.model_copy(update={"secret": None}))


@router.post(
    "/merchants/{merchant_id}/api_keys/{key_id}/signing",
    status_code=201,
    response_model=SigningSecretOut,
)
async def enable_merchant_key_signing(
    merchant_id: str, key_id: str, uow: OperatorWork, body: SigningIn | None = None
) -> Response:
    """Every request with this key must be signed from now on; the secret is shown once."""
    visible = service.visible_merchant_id(uow.principal, merchant_id)
    if not is_id(key_id, "key"):
        raise PayHubError("invalid_id", param="key_id")
    algorithm = (body.algorithm if body else None) or default_algorithm()

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        made = await auth.enable_signing(session, key_id, algorithm=algorithm, merchant_id=visible)
        return SigningSecretOut(key=made.key_id, algorithm=made.algorithm, secret=made.secret), 201

    return await uow.write(work, redact=lambda m: m.model_copy(update={"secret": None}))


@router.post("/merchants/{merchant_id}/api_keys/{key_id}/signing/disable", response_model=KeyOut)
async def disable_merchant_key_signing(
    merchant_id: str, key_id: str, uow: OperatorWork
) -> Response:
    visible = service.visible_merchant_id(uow.principal, merchant_id)
    if not is_id(key_id, "key"):
        raise PayHubError("invalid_id", param="key_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return KeyOut.of(await auth.disable_signing(session, key_id, merchant_id=visible)), 200

    return await uow.write(work)


@router.post("/merchants/{merchant_id}/api_keys/{key_id}/limits", response_model=KeyOut)
async def set_merchant_key_limit(
    merchant_id: str, key_id: str, body: LimitIn, uow: OperatorWork
) -> Response:
    """Raise (or lower) what one of a merchant's keys may send a second; null: defaults."""
    visible = service.visible_merchant_id(uow.principal, merchant_id)
    if not is_id(key_id, "key"):
        raise PayHubError("invalid_id", param="key_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await auth.set_rate_limit(session, key_id, body.per_second, merchant_id=visible)
        return KeyOut.of(view), 200

    return await uow.write(work)


@router.post("/customers", status_code=201, response_model=CustomerOut)
async def create_customer(body: CustomerIn, uow: WriteWork) -> Response:
    merchant_id = service.acting_merchant(uow.principal, body.merchant)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.create_customer(
            session,
            merchant_id=merchant_id,
            name=body.name,
            phone=body.phone,
            email=body.email,
            home_region=body.home_region,
            metadata=body.metadata,
        )
        return CustomerOut.of(view), 201

    return await uow.write(work)


@router.get("/customers", response_model=ListResponse[CustomerOut])
async def list_customers(
    uow: ReadWork, limit: Limit = 20, starting_after: str | None = None
) -> Response:
    after = cursor(starting_after, "cus")

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_customers(
            session,
            merchant_id=service.read_scope(uow.principal),
            limit=limit,
            starting_after=after,
        )
        return ListResponse[CustomerOut](data=[CustomerOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: str, uow: ReadWork) -> Response:
    if not is_id(customer_id, "cus"):
        raise PayHubError("invalid_id", param="customer_id")

    async def work(session: AsyncSession) -> BaseModel:
        view = await service.get_customer(
            session, customer_id, merchant_id=service.read_scope(uow.principal)
        )
        return CustomerOut.of(view)

    return await uow.read(work)
