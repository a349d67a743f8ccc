"""`/v1/routing/rules` (versioned operator rules) and `/v1/channels` (what the router knows
of each channel). Operator only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import OperatorWork
from payhub.api.schemas import StrictModel
from payhub.core.clock import to_rfc3339
from payhub.payments import channels
from payhub.routing import rules
from payhub.routing import service as routing
from payhub.routing.rules import RuleSetView

router = APIRouter(prefix="/v1", tags=["routing"])


class RulesIn(StrictModel):
    rules: list[dict[str, Any]] = Field(
        description="Rules in order; the first that prefers or splits wins.",
        examples=[
            [
                {
                    "id": "partner_cards_in_house",
                    "action": "prefer",
                    "channels": ["partner_bank"],
                    "when": {"issuers": ["PARTNER"]},
                }
            ]
        ],
    )
    note: str | None = Field(default=None, max_length=200)
    activate: bool = Field(default=True, description="False: stage the version, activate later.")


class RuleSetOut(BaseModel):
    object: str = "routing_rule_set"
    version: int
    rules: list[dict[str, Any]]
    active: bool
    note: str | None
    created_by: str
    created_at: str | None

    @classmethod
    def of(cls, view: RuleSetView) -> RuleSetOut:
        return cls(
            version=view.version,
            rules=view.rules,
            active=view.active,
            note=view.note,
            created_by=view.created_by,
            created_at=to_rfc3339(view.created_at) if view.created_at else None,
        )


class RuleSetsOut(BaseModel):
    object: str = "list"
    data: list[RuleSetOut]
    has_more: bool = False


class ChannelsOut(BaseModel):
    object: str = "list"
    data: list[dict[str, Any]]
    has_more: bool = False


@router.get("/routing/rules", response_model=RuleSetOut)
async def get_rules(uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return RuleSetOut.of(await rules.active_view(session))

    return await uow.read(work)


@router.get("/routing/rules/versions", response_model=RuleSetsOut)
async def list_rule_versions(uow: OperatorWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return RuleSetsOut(data=[RuleSetOut.of(v) for v in await rules.list_versions(session)])

    return await uow.read(work)


@router.post("/routing/rules", status_code=201, response_model=RuleSetOut)
async def publish_rules(body: RulesIn, uow: OperatorWork) -> Response:
    """A new version of the rules; every API process follows it from its next decision."""
    known = list(channels.get_channels())
    author = uow.principal.key_id

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await rules.publish(
            session,
            body.rules,
            channels=known,
            created_by=author,
            note=body.note,
            activate=body.activate,
        )
        return RuleSetOut.of(view), 201

    return await uow.write(work)


@router.post("/routing/rules/{version}/activate", response_model=RuleSetOut)
async def activate_rules(
    # Bounded: a number past 64 bits reached the database and failed there (500).
    version: Annotated[int, Path(ge=1, le=2**63 - 1)],
    uow: OperatorWork,
) -> Response:
    """Make an earlier (or staged) version the active one."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return RuleSetOut.of(await rules.activate(session, version)), 200

    return await uow.write(work)


@router.get("/channels", response_model=ChannelsOut)
async def list_channels(uow: OperatorWork) -> Response:
    """Every card channel: what it takes and costs, and what this process's router has
    learnt of it (recent success by segment, latency, volume, state)."""
    adapters = channels.get_channels()
    learnt = routing.channel_health()

    async def work(session: AsyncSession) -> BaseModel:
        data = []
        for info in routing.card_channels(adapters):
            data.append(
                {
                    "object": "channel",
                    "id": info.channel_id,
                    "currencies": sorted(info.currencies),
                    "card_types": sorted(t.value for t in info.card_types),
                    "issuers": sorted(info.issuers) if info.issuers is not None else None,
                    "min_amount": info.min_amount,
                    "max_amount": info.max_amount,
                    "fee_bps": {"debit": info.fee_bps_debit, "credit": info.fee_bps_credit},
                    "fee_fixed_minor": info.fee_fixed_minor,
                    "timeout_ms": info.timeout_ms,
                    **learnt.get(info.channel_id, {"state": "healthy", "segments": []}),
                }
            )
        return ChannelsOut(data=data)

    return await uow.read(work)
