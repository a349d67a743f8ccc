"""`/v1/risk/…`: the rule sets (versions, staging, activation, dry runs), the recorded
decisions, coverage and the feature catalogue. Platform keys with the operator or the
compliance scope only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ComplianceWork
from payhub.api.schemas import Limit, Timestamp, cursor
from payhub.core.errors import PayHubError
from payhub.risk.decisions import dryrun, service
from payhub.risk.decisions.features import CATALOGUE
from payhub.risk.decisions.rules import parse_rule_set
from payhub.risk.decisions.schemas import (
    CoverageOut,
    DryRunIn,
    DryRunOut,
    FeatureOut,
    FeaturesOut,
    RiskDecisionOut,
    RiskDecisionsOut,
    RiskRuleSetOut,
    RiskRuleSetsOut,
    RiskRulesIn,
)

router = APIRouter(prefix="/v1/risk", tags=["risk"])

# A version is a BIGINT: a larger number is a bad request, not a database error.
RuleVersion = Annotated[int, Path(ge=0, le=2**63 - 1, description="0: the built-in set.")]


@router.get("/features", response_model=FeaturesOut)
async def list_features(uow: ComplianceWork) -> Response:
    """What rules can test: every feature a decision measures."""

    async def work(_session: AsyncSession) -> BaseModel:
        return FeaturesOut(data=[FeatureOut(name=n, description=d) for n, d in CATALOGUE.items()])

    return await uow.read(work)


@router.get("/rules", response_model=RiskRuleSetOut)
async def get_active_rules(uow: ComplianceWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return RiskRuleSetOut.of(await service.active_view(session))

    return await uow.read(work)


@router.get("/rules/versions", response_model=RiskRuleSetsOut)
async def list_rule_versions(uow: ComplianceWork) -> Response:
    """Newest first; version 0 is the built-in set."""

    async def work(session: AsyncSession) -> BaseModel:
        versions = await service.list_versions(session)
        return RiskRuleSetsOut(data=[RiskRuleSetOut.of(v) for v in versions])

    return await uow.read(work)


@router.get("/rules/{version}", response_model=RiskRuleSetOut)
async def get_rule_version(version: RuleVersion, uow: ComplianceWork) -> Response:
    async def work(session: AsyncSession) -> BaseModel:
        return RiskRuleSetOut.of(await service.get_version(session, version))

    return await uow.read(work)


@router.post("/rules", status_code=201, response_model=RiskRuleSetOut)
async def publish_rules(body: RiskRulesIn, uow: ComplianceWork) -> Response:
    """A new version; live from every process's next decision unless staged."""
    author = uow.principal.key_id

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        view = await service.publish(
            session, body.definition, created_by=author, note=body.note, activate=body.activate
        )
        return RiskRuleSetOut.of(view), 201

    return await uow.write(work)


@router.post("/rules/{version}/activate", response_model=RiskRuleSetOut)
async def activate_rules(version: RuleVersion, uow: ComplianceWork) -> Response:
    """A staged version goes live, or an earlier one comes back (0: the built-in set)."""

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        return RiskRuleSetOut.of(await service.activate(session, version)), 200

    return await uow.write(work)


@router.post("/rules/dry_run", response_model=DryRunOut)
async def dry_run_rules(body: DryRunIn, uow: ComplianceWork) -> Response:
    """What a draft (or a staged version) would have decided on recent payments. Changes
    nothing."""
    if (body.definition is None) == (body.version is None):
        raise PayHubError("validation_error", param="definition", detail="definition or version")

    async def work(session: AsyncSession) -> tuple[BaseModel, int]:
        if body.definition is not None:
            draft = parse_rule_set(body.definition)
        else:
            assert body.version is not None
            view = await service.get_version(session, body.version)
            draft = parse_rule_set(view.definition, version=view.version)
        run = await dryrun.dry_run(session, draft, limit=body.limit, since=body.since)
        return DryRunOut.of(run), 200

    return await uow.write(work)


@router.get("/decisions", response_model=RiskDecisionsOut)
async def list_decisions(
    uow: ComplianceWork,
    limit: Limit = 20,
    starting_after: str | None = None,
    outcome: str | None = None,
    merchant: str | None = None,
    customer: str | None = None,
    rule: str | None = None,
    decided_from: Timestamp | None = None,
    decided_to: Timestamp | None = None,
) -> Response:
    """Newest first; filtered by outcome, merchant, customer, a rule that fired, a period."""
    after = cursor(starting_after, "rsk")
    if outcome is not None and outcome not in ("approve", "review", "decline"):
        raise PayHubError("validation_error", param="outcome", detail="approve, review or decline")
    filters = service.DecisionFilter(
        outcome=outcome,
        merchant_id=merchant,
        customer_id=customer,
        rule=rule,
        decided_from=decided_from,
        decided_to=decided_to,
    )

    async def work(session: AsyncSession) -> BaseModel:
        views, more = await service.list_decisions(
            session, filters, limit=limit, starting_after=after
        )
        return RiskDecisionsOut(data=[RiskDecisionOut.of(v) for v in views], has_more=more)

    return await uow.read(work)


@router.get("/decisions/{payment_id}", response_model=RiskDecisionOut)
async def get_decision(payment_id: str, uow: ComplianceWork) -> Response:
    """The decision on a payment, by the payment's id."""

    async def work(session: AsyncSession) -> BaseModel:
        view = await service.decision_for_payment(session, payment_id)
        if view is None:
            raise PayHubError("payment_not_found")
        return RiskDecisionOut.of(view)

    return await uow.read(work)


@router.get("/coverage", response_model=CoverageOut)
async def get_coverage(
    uow: ComplianceWork,
    created_from: Timestamp | None = None,
    created_to: Timestamp | None = None,
) -> Response:
    """Decisions ÷ confirmed payments, over payments created in the period (all by
    default): the share of payments the risk checks saw, which must be 1."""

    async def work(session: AsyncSession) -> BaseModel:
        found = await service.coverage(session, created_from=created_from, created_to=created_to)
        return CoverageOut.of(found)

    return await uow.read(work)
