"""API shapes of payments, attempts and refunds.

Inputs may carry a CVV (confirm only); no output ever carries a card number or a CVV: a
payment names its card by vault token.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, IPvAnyAddress, StrictInt

from payhub.api.schemas import StrictModel

Scene = Literal["food_delivery", "group_buy", "local_services", "cross_border"]
PaymentStatus = Literal[
    "requires_confirmation", "processing", "requires_capture", "succeeded", "failed", "canceled"
]


class PaymentIn(StrictModel):
    merchant: str | None = Field(default=None, description="Operator keys only.")
    amount: StrictInt = Field(description="Minor units of `currency`.")
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    payment_method: str = Field(min_length=1, max_length=40, description="A card token.")
    customer: str | None = Field(default=None, max_length=40)
    capture_method: Literal["automatic", "manual"] = "automatic"
    scene: Scene = "local_services"
    description: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict)


class LocationIn(StrictModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class ConfirmIn(StrictModel):
    # Passed to the channel and forgotten: never stored, logged or returned.
    cvv: str | None = Field(default=None, pattern=r"^[0-9]{3,4}$")
    # What the merchant knows of the customer's side, for the risk checks (all optional).
    device_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="The customer's device."
    )
    ip: IPvAnyAddress | None = Field(default=None, description="The customer's IP address.")
    location: LocationIn | None = Field(
        default=None, description="Where the customer is (WGS 84 degrees)."
    )


class CaptureIn(StrictModel):
    amount: StrictInt | None = None


class RefundIn(StrictModel):
    payment: str = Field(min_length=1, max_length=40)
    amount: StrictInt | None = None
    reason: str | None = Field(default=None, max_length=200)


class ObjectOut(BaseModel):
    """A payment, refund or attempt: the service's public shape, passed through."""

    model_config = {"extra": "allow"}

    id: str
    object: str


class RefundOut(ObjectOut):
    pass


class PaymentOut(ObjectOut):
    pass


class ListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    has_more: bool = False
