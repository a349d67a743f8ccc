"""`/v1/balances`, `/v1/settlement_settings`, `/v1/settlements`, `/v1/channel_settlements`.

Merchant keys see their own balances, settings and settlements; the operator names a
merchant (`?merchant=`), changes settings and starts runs.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork, ReadWork, Store
from payhub.api.schemas import Limit
from payhub.auth.service import OPERATOR
from payhub.core.errors import PayHubError
from payhub.core.money import check_currency
from payhub.db.session import Database
from payhub.merchants import service as merchants
from payhub.settlement.balances import channels, daily, entries, settings, views
from payhub.settlement.balances.models import ENTRY_KINDS
from payhub.settlement.balances.schemas import (
    BalanceOut,
    BalancesOut,
    ChannelRunOut,
    ChannelSettlementOut,
    ChannelSettlementsOut,
    RunIn,
    RunOut,
    SettingsIn,
    SettingsOut,
    SettlementOut,
    SettlementsOut,
)

router = APIRouter(prefix="/v1", tags=["settlement"])


def _whose(uow: ReadWork, merchant: str | None, *, required: bool) -> str | None:
    """The merchant a read is about: the key's own, or (operator) the one named."""
    principal = uow.principal
    if merchant is not None:
        return merchants.visible_merchant_id(principal, merchant)
    if principal.role == OPERATOR:
        if required:
            raise PayHubError("validation_error", param="merchant", detail="required")
        return None
    return principal.merchant_id


@router.get("/balances", response_model=BalancesOut)
async def get_balances(uow: ReadWork, merchant: str | None = None) -> Response:
    """Pending, available, reserved and in transit, per currency."""
    merchant_id = _whose(uow, merchant, required=True)
    assert merchant_id is not None

    async def work(session: AsyncSession) -> BaseModel:
        await merchants.get_merchant(session, merchant_id)
        lines = await views.merchant_balances(session, merchant_id)
        return BalancesOut(merchant=merchant_id, data=[BalanceOut.of(b) for b in lines])

    return await uow.read(work)


@router.get("/settlement_settings/{merchant_id}", response_model=SettingsOut)
async def get_settlement_settings(merchant_id: str, uow: ReadWork) -> Response:
    visible = merchants.visible_merchant_id(uow.principal, merchant_id)

    async def work(session: AsyncSession) -> BaseModel:
        await merchants.get_merchant(session, visible)
        return SettingsOut.of(await settings.get_settings(session, visible))

    return await uow.read(work)


@router.post("/settlement_settings/{merchant_id}", response_model=SettingsOut)
async def update_settlement_settings(
    merchant_id: str, body: SettingsIn, uow: OperatorWork
) -> Response:
    """Change a merchant's settlement mode, cut-off, reserve or calendar (audited)."""
    visible = merchants.visible_merchant_id(uow.principal, merchant_id)
    changes = body.model_dump(exclude_unset=True)

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await settings.update_settings(session, visible, changes)
        return SettingsOut.of(view), 200

    return await uow.write(work)


@router.get("/settlements", response_model=SettlementsOut)
async def list_settlements(
    uow: ReadWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    merchant: str | None = None,
    kind: str | None = None,
    currency: str | None = None,
) -> Response:
    """Newest first: each settlement journal with its merchant, business day, amount,
    reserve and journal id."""
    merchant_id = _whose(uow, merchant, required=False)
    if kind is not None and kind not in ENTRY_KINDS:
        raise PayHubError("validation_error", param="kind", detail=", ".join(ENTRY_KINDS))

    async def work(session: AsyncSession) -> BaseModel:
        found, more = await entries.list_entries(
            session,
            merchant_id=merchant_id,
            limit=limit,
            starting_after=starting_after,
            kind=kind,
            currency=check_currency(currency) if currency is not None else None,
        )
        data = [SettlementOut(**entries.entry_object(v)) for v in found]
        return SettlementsOut(data=data, has_more=more)

    return await uow.read(work)


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
async def get_settlement(settlement_id: str, uow: ReadWork) -> Response:
    scope = None if uow.principal.role == OPERATOR else uow.principal.merchant_id

    async def work(session: AsyncSession) -> BaseModel:
        view = await entries.get_entry(session, settlement_id, merchant_id=scope)
        return SettlementOut(**entries.entry_object(view))

    return await uow.read(work)


@router.post("/settlements/run", response_model=RunOut)
async def run_settlements(body: RunIn, uow: OperatorWork) -> Response:
    """Run what is due now: every merchant's (or one merchant's) daily settlement, then
    the reserves whose holding period is over."""
    targets = (
        [merchants.visible_merchant_id(uow.principal, body.merchant)] if body.merchant else None
    )

    async def flow(db: Database, _store: Store) -> tuple[BaseModel, int]:
        if targets is not None:
            await db.run_in_transaction(lambda s: merchants.get_merchant(s, targets[0]))
        summary = await daily.settle_due(db, merchant_ids=targets)
        released = await daily.release_due_reserves(db)
        return (
            RunOut(
                merchants=summary.merchants,
                runs=summary.runs,
                settled=summary.settled,
                recovered=summary.recovered,
                skipped=summary.skipped,
                reserves_released=released,
            ),
            200,
        )

    return await uow.write_flow(flow)


@router.get("/channel_settlements", response_model=ChannelSettlementsOut)
async def list_channel_settlements(
    uow: OperatorWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    channel: str | None = None,
) -> Response:
    """Newest period first: what each channel paid into custody, with its statement's
    reference."""
    if channel is not None and not channels.CHANNEL_ID.fullmatch(channel):
        raise PayHubError("validation_error", param="channel", detail="not a channel id")

    async def work(session: AsyncSession) -> BaseModel:
        found, more = await channels.list_channel_settlements(
            session, limit=limit, starting_after=starting_after, channel_id=channel
        )
        data = [ChannelSettlementOut(**channels.settlement_object(v)) for v in found]
        return ChannelSettlementsOut(data=data, has_more=more)

    return await uow.read(work)


@router.post("/channel_settlements/run", response_model=ChannelRunOut)
async def run_channel_settlements(uow: OperatorWork) -> Response:
    """Settle every card channel's periods whose money has arrived in custody."""

    async def flow(db: Database, _store: Store) -> tuple[BaseModel, int]:
        done = await channels.settle_channels(db)
        data = [ChannelSettlementOut(**channels.settlement_object(v)) for v in done]
        return ChannelRunOut(periods=len(done), data=data), 200

    return await uow.write_flow(flow)
