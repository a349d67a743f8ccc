"""API shapes of merchants, customers and merchant keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt

from payhub.api.schemas import StrictModel, Timestamp
from payhub.auth.schemas import KeyOut as KeyOut
from payhub.merchants.service import CustomerView, MerchantView


class MerchantIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    legal_name: str | None = Field(default=None, max_length=200)
    currency: str = Field(default="CNY", min_length=1, max_length=8)
    per_payment_limit: StrictInt | None = Field(
        default=None, description="Largest single payment, minor units of `currency`."
    )
    daily_limit: StrictInt | None = Field(
        default=None, description="Most the merchant may take in one UTC day, minor units."
    )
    metadata: dict[str, str] = Field(default_factory=dict)


class MerchantUpdateIn(StrictModel):
    name: str | None = Field(default=None, max_length=200)
    status: Literal["active", "suspended"] | None = None
    per_payment_limit: StrictInt | None = None
    daily_limit: StrictInt | None = None
    metadata: dict[str, str] | None = None


class MerchantOut(BaseModel):
    object: Literal["merchant"] = "merchant"
    id: str
    name: str
    legal_name: str | None
    status: str
    currency: str
    per_payment_limit: int | None
    daily_limit: int | None
    fee_plan: str | None
    metadata: dict[str, Any]
    created_at: Timestamp

    @classmethod
    def of(cls, view: MerchantView) -> MerchantOut:
        return cls(
            id=view.id,
            name=view.name,
            legal_name=view.legal_name,
            status=view.status,
            currency=view.currency,
            per_payment_limit=view.per_payment_limit,
            daily_limit=view.daily_limit,
            fee_plan=view.fee_plan_id,
            metadata=view.metadata,
            created_at=view.created_at,
        )


class CustomerIn(StrictModel):
    merchant: str | None = Field(
        default=None, description="Operator keys only: the merchant the customer belongs to."
    )
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=20, examples=["+8613800138000"])
    email: str | None = Field(default=None, max_length=254)
    home_region: str | None = Field(default=None, max_length=10, examples=["CN-SH"])
    metadata: dict[str, str] = Field(default_factory=dict)


class CustomerOut(BaseModel):
    object: Literal["customer"] = "customer"
    id: str
    merchant: str
    name: str
    phone: str | None
    email: str | None
    home_region: str | None
    metadata: dict[str, Any]
    created_at: Timestamp

    @classmethod
    def of(cls, view: CustomerView) -> CustomerOut:
        return cls(
            id=view.id,
            merchant=view.merchant_id,
            name=view.name,
            phone=view.phone,
            email=view.email,
            home_region=view.home_region,
            metadata=view.metadata,
            created_at=view.created_at,
        )


MerchantScope = Literal["read", "write", "refunds", "payouts"]


def _default_scopes() -> list[MerchantScope]:
    # Refunds are a scope of their own so a key can be made that takes payments only.
    return ["read", "write", "refunds"]


class KeyIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[MerchantScope] = Field(default_factory=_default_scopes)
