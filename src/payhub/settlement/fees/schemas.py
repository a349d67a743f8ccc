"""API shapes of fee plans, channel cost schedules, payment fees, quotes and reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel, Timestamp
from payhub.core.clock import to_rfc3339
from payhub.settlement.fees.costs import CostLine, CostReport, ScenarioSaving
from payhub.settlement.fees.margins import MarginLine, PaymentFees
from payhub.settlement.fees.pricing import Price
from payhub.settlement.fees.service import CostVersionView, PlanVersionView, PlanView, Quote

RULE_EXAMPLE = [
    {"card_type": "credit", "bps": 60, "fixed": 0, "minimum": 1, "cap": 5000},
    {"channel_class": "in_house", "bps": 38},
    {"bps": 55, "minimum": 1},
]


class PriceIn(StrictModel):
    bps: int = Field(ge=0, le=10_000, description="Basis points of the amount (1 = 0.01%).")
    fixed: int = Field(default=0, ge=0, le=2**63 - 1, description="Minor units added.")
    minimum: int = Field(default=0, ge=0, le=2**63 - 1)
    cap: int | None = Field(default=None, ge=0, le=2**63 - 1)


class PlanVersionIn(StrictModel):
    currency: str = Field(default="CNY", max_length=8, description="Of fixed, minimum and cap.")
    # Rules stay free-form here and are checked by the service, which names the rule at
    # fault (`rules[2].bps`) with the catalogue's error.
    rules: list[dict[str, Any]] = Field(
        description="In order; the first matching a payment prices it; the last has no "
        "conditions (card_type, channel_class, scene).",
        examples=[RULE_EXAMPLE],
        max_length=100,
    )
    channel_classes: dict[str, str] | None = Field(
        default=None, description="Channel id → in_house | unionpay | other, over the derived."
    )
    refund_policy: Literal["proportional", "none"] = "proportional"
    effective_from: Timestamp | None = Field(default=None, description="Default: now.")
    note: str | None = Field(default=None, max_length=200)


class PlanIn(PlanVersionIn):
    name: str = Field(min_length=1, max_length=200)
    default: bool = Field(default=False, description="The plan of merchants that have none.")


class AssignIn(StrictModel):
    fee_plan: str | None = Field(description="A plan id; null: back to the default plan.")


class CostVersionIn(StrictModel):
    channel: str = Field(min_length=1, max_length=64)
    currency: str = Field(default="CNY", max_length=8)
    debit: PriceIn
    credit: PriceIn
    refund_returns_fee: bool = Field(
        default=False, description="Whether the channel gives its fee back on a refund."
    )
    effective_from: Timestamp | None = None
    note: str | None = Field(default=None, max_length=200)


def _when(moment: Any) -> str | None:
    return to_rfc3339(moment) if moment is not None else None


def plan_version_object(view: PlanVersionView) -> dict[str, Any]:
    return {
        "object": "fee_plan_version",
        "fee_plan": view.plan_id,
        "version": view.version,
        "currency": view.terms.currency,
        "effective_from": _when(view.effective_from),
        "rules": [r.to_data() for r in view.terms.rules],
        "channel_classes": dict(view.terms.channel_classes),
        "refund_policy": view.terms.refund_policy,
        "note": view.note,
        "created_by": view.created_by,
        "created_at": _when(view.created_at),
    }


class PlanOut(BaseModel):
    object: str = "fee_plan"
    id: str
    name: str
    default: bool
    in_force_version: int | None
    versions: list[dict[str, Any]]
    created_by: str
    created_at: str

    @classmethod
    def of(cls, view: PlanView) -> PlanOut:
        return cls(
            id=view.id,
            name=view.name,
            default=view.is_default,
            in_force_version=view.in_force.version if view.in_force else None,
            versions=[plan_version_object(v) for v in view.versions],
            created_by=view.created_by,
            created_at=to_rfc3339(view.created_at),
        )


class CostScheduleOut(BaseModel):
    object: str = "channel_cost_schedule"
    channel: str
    version: int | None = Field(description="null: the channel's list prices.")
    currency: str
    effective_from: str | None
    debit: dict[str, Any]
    credit: dict[str, Any]
    refund_returns_fee: bool
    note: str | None
    created_by: str
    created_at: str | None

    @classmethod
    def of(cls, view: CostVersionView) -> CostScheduleOut:
        return cls(
            channel=view.channel_id,
            version=view.version,
            currency=view.terms.currency,
            effective_from=_when(view.effective_from),
            debit=view.terms.debit.to_data(),
            credit=view.terms.credit.to_data(),
            refund_returns_fee=view.terms.refund_returns_fee,
            note=view.note,
            created_by=view.created_by,
            created_at=_when(view.created_at),
        )


class ListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    has_more: bool = False


class PaymentFeesOut(BaseModel):
    object: str = "payment_fees"
    payment: str
    currency: str | None
    captured: int
    refunded: int
    merchant_fee: int = Field(description="Net of what refunds gave back.")
    merchant_fee_charged: int
    merchant_fee_refunded: int
    # The platform's side: shown to the operator only (null to a merchant's key).
    channel_cost: int | None
    channel_cost_charged: int | None
    channel_cost_refunded: int | None
    margin: int | None
    detail: dict[str, Any] | None

    @classmethod
    def of(cls, payment_id: str, fees: PaymentFees | None, *, operator: bool) -> PaymentFeesOut:
        if fees is None:
            return cls(
                payment=payment_id, currency=None, captured=0, refunded=0, merchant_fee=0,
                merchant_fee_charged=0, merchant_fee_refunded=0,
                channel_cost=0 if operator else None, channel_cost_charged=0 if operator else None,
                channel_cost_refunded=0 if operator else None, margin=0 if operator else None,
                detail=None,
            )  # fmt: skip
        platform = {
            "channel_cost": fees.net_channel_cost,
            "channel_cost_charged": fees.channel_cost,
            "channel_cost_refunded": fees.channel_cost_refunded,
            "margin": fees.margin,
        }
        detail = {
            "card_type": fees.card_type,
            "channel_class": fees.channel_class,
            "scene": fees.scene,
            "fee_plan": fees.plan_id,
            "fee_plan_version": fees.plan_version,
            "merchant_price": fees.merchant_price,
            "first_captured_at": to_rfc3339(fees.first_captured_at),
        }
        if operator:
            detail |= {
                "channel": fees.channel_id,
                "cost_version": fees.cost_version,
                "cost_price": fees.cost_price,
            }
        return cls(
            payment=payment_id,
            currency=fees.currency,
            captured=fees.captured,
            refunded=fees.refunded,
            merchant_fee=fees.net_merchant_fee,
            merchant_fee_charged=fees.merchant_fee,
            merchant_fee_refunded=fees.merchant_fee_refunded,
            **(platform if operator else dict.fromkeys(platform)),
            detail=detail,
        )


def _price(price: Price) -> dict[str, Any]:
    return price.to_data()


class QuoteOut(BaseModel):
    object: str = "fee_quote"
    merchant: str
    amount: int
    currency: str
    card_type: str
    channel: str
    channel_class: str
    scene: str
    fee_plan: str | None
    fee_plan_version: int
    merchant_price: dict[str, Any]
    merchant_fee: int
    cost_version: int | None
    channel_cost: int
    margin: int

    @classmethod
    def of(cls, q: Quote) -> QuoteOut:
        return cls(
            merchant=q.merchant_id,
            amount=q.amount,
            currency=q.currency,
            card_type=q.card_type,
            channel=q.channel_id,
            channel_class=q.channel_class,
            scene=q.scene,
            fee_plan=q.plan.plan_id,
            fee_plan_version=q.plan.version,
            merchant_price=_price(q.merchant_price),
            merchant_fee=q.merchant_fee,
            cost_version=q.cost.version,
            channel_cost=q.channel_cost,
            margin=q.margin,
        )


def margin_object(group_by: str, line: MarginLine) -> dict[str, Any]:
    return {
        "object": "fee_margin",
        group_by: line.key,
        "currency": line.currency,
        "payments": line.payments,
        "amount_captured": line.captured,
        "amount_refunded": line.refunded,
        "merchant_fees": line.merchant_fees,
        "channel_costs": line.channel_costs,
        "margin": line.margin,
        "margin_bps": line.margin_bps,
    }


def cost_line_object(line: CostLine) -> dict[str, Any]:
    return {
        "object": "channel_cost_line",
        "channel": line.key,
        "currency": line.currency,
        "payments": line.payments,
        "amount_captured": line.captured,
        "actual": line.actual,
        "actual_bps": line.bps(line.actual),
        "list_price": line.list_price,
        "list_price_bps": line.bps(line.list_price),
        "static_route": line.static_route,
        "static_route_bps": line.bps(line.static_route),
        "saving_vs_static_pct": line.saving_vs_static_pct,
    }


class CostReportOut(BaseModel):
    object: str = "channel_cost_report"
    start: str | None
    end: str | None
    channels: list[dict[str, Any]]
    totals: list[dict[str, Any]]

    @classmethod
    def of(cls, report: CostReport) -> CostReportOut:
        return cls(
            start=_when(report.start),
            end=_when(report.end),
            channels=[cost_line_object(x) for x in report.by_channel],
            totals=[cost_line_object(x) for x in report.totals],
        )


def saving_object(s: ScenarioSaving) -> dict[str, Any]:
    return {
        "scenario": s.scenario,
        "payments": s.payments,
        "seeds": s.seeds,
        "static_fee_bps": s.static_fee_bps,
        "payhub_fee_bps": s.payhub_fee_bps,
        "saving_pct": s.saving_pct,
        "static_success_rate": s.static_success_rate,
        "payhub_success_rate": s.payhub_success_rate,
    }
