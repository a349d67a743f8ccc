"""Request and response bodies of the risk decision routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel, Timestamp
from payhub.core.clock import to_rfc3339
from payhub.risk.decisions.dryrun import DryRun
from payhub.risk.decisions.service import Coverage, DecisionView, RuleSetView

_EXAMPLE = {
    "rules": [
        {
            "id": "big_and_far",
            "description": "A large payment far from home.",
            "score": 60,
            "when": {
                "all": [
                    {"feature": "amount", "op": ">=", "value": 1_000_000},
                    {"feature": "geo.km_from_home", "op": ">", "value": 1000},
                ]
            },
        }
    ],
    "review_at": 50,
    "decline_at": 90,
}


class RiskRulesIn(StrictModel):
    definition: dict[str, Any] = Field(
        description="`rules`, `review_at`, `decline_at` (see docs/risk.md).", examples=[_EXAMPLE]
    )
    note: str | None = Field(default=None, max_length=200)
    activate: bool = Field(default=True, description="False: stage it (dry-run it first).")


class DryRunIn(StrictModel):
    definition: dict[str, Any] | None = Field(
        default=None, description="A draft rule set; or give `version`.", examples=[_EXAMPLE]
    )
    version: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="A published (or staged) one."
    )
    limit: int = Field(default=10_000, ge=1, le=50_000, description="Newest decisions replayed.")
    since: Timestamp | None = Field(default=None, description="Only decisions from then on.")


class RiskRuleSetOut(BaseModel):
    object: Literal["risk_rule_set"] = "risk_rule_set"
    version: int
    definition: dict[str, Any]
    active: bool
    note: str | None
    created_by: str
    created_at: str | None

    @classmethod
    def of(cls, view: RuleSetView) -> RiskRuleSetOut:
        return cls(
            version=view.version,
            definition=view.definition,
            active=view.active,
            note=view.note,
            created_by=view.created_by,
            created_at=to_rfc3339(view.created_at) if view.created_at else None,
        )


class RiskRuleSetsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[RiskRuleSetOut]
    has_more: bool = False


class RiskDecisionOut(BaseModel):
    object: Literal["risk_decision"] = "risk_decision"
    id: str
    payment: str
    merchant: str
    customer: str | None
    outcome: Literal["approve", "review", "decline"]
    score: int
    fired: list[dict[str, Any]]
    features: dict[str, Any]
    rules_version: int
    decided_at: str
    took_us: int

    @classmethod
    def of(cls, view: DecisionView) -> RiskDecisionOut:
        return cls(
            id=view.id,
            payment=view.payment_id,
            merchant=view.merchant_id,
            customer=view.customer_id,
            outcome=view.outcome,
            score=view.score,
            fired=view.fired,
            features=view.features,
            rules_version=view.rules_version,
            decided_at=to_rfc3339(view.decided_at),
            took_us=view.took_us,
        )


class RiskDecisionsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[RiskDecisionOut]
    has_more: bool


class CoverageOut(BaseModel):
    object: Literal["risk_coverage"] = "risk_coverage"
    payments: int = Field(description="Payments past confirmation created in the period.")
    decided: int = Field(description="Of them, those with a recorded risk decision.")
    coverage: float = Field(description="decided ÷ payments (1.0 when there are none).")
    outcomes: dict[str, int]

    @classmethod
    def of(cls, c: Coverage) -> CoverageOut:
        return cls(payments=c.payments, decided=c.decided, coverage=c.share, outcomes=c.outcomes)


class FeatureOut(BaseModel):
    name: str
    description: str


class FeaturesOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[FeatureOut]
    has_more: bool = False


class ChangeOut(BaseModel):
    payment: str
    decided_at: str
    before: str
    after: str
    score_before: int
    score_after: int
    fired_after: list[dict[str, Any]]


class DryRunOut(BaseModel):
    object: Literal["risk_dry_run"] = "risk_dry_run"
    replayed: int
    changed: int
    transitions: dict[str, int] = Field(description='"approve→review": how many, and so on.')
    fired: dict[str, int] = Field(description="How often each of the draft's rules fired.")
    changes: list[ChangeOut] = Field(description="The newest changed decisions (at most 100).")

    @classmethod
    def of(cls, run: DryRun) -> DryRunOut:
        return cls(
            replayed=run.replayed,
            changed=run.changed,
            transitions=run.transitions,
            fired=run.fired,
            changes=[
                ChangeOut(
                    payment=c.payment_id,
                    decided_at=to_rfc3339(c.decided_at),
                    before=c.before,
                    after=c.after,
                    score_before=c.score_before,
                    score_after=c.score_after,
                    fired_after=c.fired_after,
                )
                for c in run.changes
            ],
        )
