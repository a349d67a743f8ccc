"""HTTP routes of events and webhook endpoints. A merchant key sees its own; the operator
sees all (and its endpoints receive every event)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ReadWork, WriteWork
from payhub.api.schemas import Limit, ListResponse
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id
from payhub.events import service
from payhub.events.schemas import (
    DeliveryOut,
    EndpointIn,
    EndpointOut,
    EndpointUpdateIn,
    EventOut,
    RollSecretIn,
)
from payhub.merchants.service import read_scope

router = APIRouter(prefix="/v1", tags=["events"])


def _id(value: str, prefix: str, param: str) -> str:
    if not is_id(value, prefix):
        raise PayHubError("invalid_id", param=param)
    return value


@router.get("/events", response_model=ListResponse[EventOut])
async def list_events(
    uow: ReadWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    type: str | None = None,
) -> Response:
    if starting_after is not None:
        _id(starting_after, "evt", "starting_after")

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_events(
            session,
            merchant_id=read_scope(uow.principal),
            limit=limit,
            starting_after=starting_after,
            type=type,
        )
        return ListResponse[EventOut](data=[EventOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/events/{event_id}", response_model=EventOut)
async def get_event(event_id: str, uow: ReadWork) -> Response:
    _id(event_id, "evt", "event_id")

    async def work(session: AsyncSession) -> BaseModel:
        view = await service.get_event(session, event_id, merchant_id=read_scope(uow.principal))
        return EventOut.of(view)

    return await uow.read(work)


@router.post("/events/{event_id}/redeliver", response_model=ListResponse[DeliveryOut])
async def redeliver(event_id: str, uow: WriteWork) -> Response:
    _id(event_id, "evt", "event_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        made = await service.redeliver(session, event_id, merchant_id=read_scope(uow.principal))
        return ListResponse[DeliveryOut](
            data=[DeliveryOut.of(d) for d in made], has_more=False
        ), 200

    return await uow.write(work)


@router.post("/webhook_endpoints", status_code=201, response_model=EndpointOut)
async def create_endpoint(body: EndpointIn, uow: WriteWork) -> Response:
    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.create_endpoint(
            session,
            merchant_id=read_scope(uow.principal),
            url=body.url,
            events=body.events,
            description=body.description,
        )
        return EndpointOut.of(view), 201

    # The secret is shown once: a replay says which endpoint was made, not its secret.
    return await uow.write(work, redact=lambda m: m.model_copy(update={"secret": None}))


@router.get("/webhook_endpoints", response_model=ListResponse[EndpointOut])
async def list_endpoints(uow: ReadWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        views = await service.list_endpoints(session, merchant_id=read_scope(uow.principal))
        return ListResponse[EndpointOut](data=[EndpointOut.of(v) for v in views], has_more=False)

    return await uow.read(work)


@router.get("/webhook_endpoints/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(endpoint_id: str, uow: ReadWork) -> Response:
    _id(endpoint_id, "we", "endpoint_id")

    async def work(session: AsyncSession) -> BaseModel:
        view = await service.get_endpoint(
            session, endpoint_id, merchant_id=read_scope(uow.principal)
        )
        return EndpointOut.of(view)

    return await uow.read(work)


@router.post("/webhook_endpoints/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(endpoint_id: str, body: EndpointUpdateIn, uow: WriteWork) -> Response:
    _id(endpoint_id, "we", "endpoint_id")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.update_endpoint(
            session,
            endpoint_id,
            merchant_id=read_scope(uow.principal),
            url=body.url,
            events=body.events,
            enabled=body.enabled,
        )
        return EndpointOut.of(view), 200

    return await uow.write(work)


@router.post("/webhook_endpoints/{endpoint_id}/roll_secret", response_model=EndpointOut)
async def roll_endpoint_secret(
    endpoint_id: str, uow: WriteWork, body: RollSecretIn | None = None
) -> Response:
    """A new signing secret (shown once); deliveries carry a signature with the old one as
    well until the overlap ends."""
    _id(endpoint_id, "we", "endpoint_id")
    seconds = body.overlap_seconds if body is not None else None
    if seconds is None:
        seconds = uow.settings.webhook_secret_overlap_hours * 3600
    overlap = timedelta(seconds=seconds)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.roll_secret(
            session, endpoint_id, merchant_id=read_scope(uow.principal), overlap=overlap
        )
        return EndpointOut.of(view), 200

    # Shown once: a replay says the roll happened, not the secret.
    return await uow.write(work, redact=lambda m: m.model_copy(update={"secret": None}))


@router.get("/webhook_endpoints/{endpoint_id}/deliveries", response_model=ListResponse[DeliveryOut])
async def list_deliveries(endpoint_id: str, uow: ReadWork, limit: Limit = 20) -> Response:
    _id(endpoint_id, "we", "endpoint_id")

    async def work(session: AsyncSession) -> BaseModel:
        views = await service.list_deliveries(
            session, endpoint_id, merchant_id=read_scope(uow.principal), limit=limit
        )
        return ListResponse[DeliveryOut](data=[DeliveryOut.of(v) for v in views], has_more=False)

    return await uow.read(work)
