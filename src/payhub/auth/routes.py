"""HTTP routes for the platform's own API keys (operator): issue, list, revoke, roll.

Merchant keys have their routes under `/v1/merchants/{id}/api_keys`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork
from payhub.api.schemas import ListResponse
from payhub.auth import service
from payhub.auth.schemas import (
    KeyOut,
    LimitIn,
    PlatformKeyIn,
    RollIn,
    SigningIn,
    SigningSecretOut,
)
from payhub.core.config import get_settings
from payhub.core.cryptosuite import MAC_OF
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id

router = APIRouter(prefix="/v1", tags=["api keys"])

# Only the platform's own keys are reached here: `""` is "no merchant".
PLATFORM = ""


def _key_id(key_id: str) -> str:
    if not is_id(key_id, "key"):
        raise PayHubError("invalid_id", param="key_id")
    return key_id


def _redacted(model: BaseModel) -> BaseModel:
    return model.model_copy(update={"secret": None})


@router.post("/api_keys", status_code=201, response_model=KeyOut)
async def create_platform_key(body: PlatformKeyIn, uow: OperatorWork) -> Response:
    """A platform key (shown once): scopes from operator, compliance, detokenize, bank_files,
    read, write, refunds."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        issued = await service.issue_key(
            session,
            name=body.name,
            role=service.OPERATOR,
            scopes=list(body.scopes),
            expires_at=body.expires_at,
        )
        return KeyOut.of(await service.get_key(session, issued.id), issued), 201

    # The key is shown once: a replay says which key was made, not the key.
    return await uow.write(work, redact=_redacted)


@router.get("/api_keys", response_model=ListResponse[KeyOut])
async def list_platform_keys(uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        views = await service.list_keys(session, merchant_id=None)
        return ListResponse[KeyOut](data=[KeyOut.of(v) for v in views], has_more=False)

    return await uow.read(work)


@router.post("/api_keys/{key_id}/revoke", response_model=KeyOut)
async def revoke_platform_key(key_id: str, uow: OperatorWork) -> Response:
    wanted = _key_id(key_id)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return KeyOut.of(await service.revoke_key(session, wanted, merchant_id=PLATFORM)), 200

    return await uow.write(work)


@router.post("/api_keys/{key_id}/roll", status_code=201, response_model=KeyOut)
async def roll_platform_key(key_id: str, uow: OperatorWork, body: RollIn | None = None) -> Response:
    """A new key (shown once) replacing this one, which keeps working for the overlap."""
    wanted = _key_id(key_id)
    overlap = timedelta(seconds=(body or RollIn()).overlap_seconds)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        issued = await service.roll_key(session, wanted, overlap=overlap, merchant_id=PLATFORM)
        return KeyOut.of(await service.get_key(session, issued.id), issued), 201

    return await uow.write(work, redact=_redacted)


def default_algorithm() -> str:
    return MAC_OF[get_settings().crypto_suite].value


@router.post("/api_keys/{key_id}/signing", status_code=201, response_model=SigningSecretOut)
async def enable_platform_key_signing(
    key_id: str, uow: OperatorWork, body: SigningIn | None = None
) -> Response:
    """From now on every request with this key must be signed (see the security docs); the
    signing secret is shown once. Calling it again replaces the secret."""
    wanted = _key_id(key_id)
    algorithm = (body.algorithm if body else None) or default_algorithm()

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        made = await service.enable_signing(
            session, wanted, algorithm=algorithm, merchant_id=PLATFORM
        )
        return SigningSecretOut(key=made.key_id, algorithm=made.algorithm, secret=made.secret), 201

    return await uow.write(work, redact=_redacted)


@router.post("/api_keys/{key_id}/signing/disable", response_model=KeyOut)
async def disable_platform_key_signing(key_id: str, uow: OperatorWork) -> Response:
    wanted = _key_id(key_id)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return KeyOut.of(await service.disable_signing(session, wanted, merchant_id=PLATFORM)), 200

    return await uow.write(work)


@router.post("/api_keys/{key_id}/limits", response_model=KeyOut)
async def set_platform_key_limit(key_id: str, body: LimitIn, uow: OperatorWork) -> Response:
    """The key's own rate (requests a second for reads, and for writes), or null for the
    deployment's defaults."""
    wanted = _key_id(key_id)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.set_rate_limit(session, wanted, body.per_second, merchant_id=PLATFORM)
        return KeyOut.of(view), 200

    return await uow.write(work)
