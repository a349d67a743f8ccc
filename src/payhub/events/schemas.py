"""API shapes of events, webhook endpoints and deliveries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from payhub.api.schemas import StrictModel, Timestamp
from payhub.events.service import DeliveryView, EndpointView, EventView


class EventOut(BaseModel):
    object: Literal["event"] = "event"
    id: str
    type: str
    merchant: str | None
    data: dict[str, Any]
    created_at: Timestamp

    @classmethod
    def of(cls, view: EventView) -> EventOut:
        return cls(
            id=view.id,
            type=view.type,
            merchant=view.merchant_id,
            data=view.data,
            created_at=view.created_at,
        )


class EndpointIn(StrictModel):
    url: str = Field(max_length=2000, examples=["https://shop.example/payhub/webhooks"])
    events: list[str] = Field(
        default_factory=lambda: ["*"], description="Event types to receive, or ['*']."
    )
    description: str | None = Field(default=None, max_length=500)


class EndpointUpdateIn(StrictModel):
    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = None
    enabled: StrictBool | None = None


class EndpointOut(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    merchant: str | None
    url: str
    events: list[str]
    enabled: bool
    description: str | None
    created_at: Timestamp
    previous_secret_expires_at: Timestamp | None = Field(
        default=None,
        description="After a roll: until then deliveries are signed with the old secret too.",
    )
    secret: str | None = Field(
        default=None,
        description="Signing secret: only in the answer that made the endpoint or rolled it.",
    )

    @classmethod
    def of(cls, view: EndpointView) -> EndpointOut:
        return cls(
            id=view.id,
            merchant=view.merchant_id,
            url=view.url,
            events=view.events,
            enabled=view.enabled,
            description=view.description,
            created_at=view.created_at,
            previous_secret_expires_at=view.previous_secret_expires_at,
            secret=view.secret,
        )


class RollSecretIn(StrictModel):
    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 86_400,
        description="How long deliveries are also signed with the old secret (0: the old one "
        "stops at once; at most 30 days); default: the deployment's, 24 hours unless set.",
    )


class DeliveryOut(BaseModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint: str
    event: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: Timestamp
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    finished_at: Timestamp | None

    @classmethod
    def of(cls, view: DeliveryView) -> DeliveryOut:
        return cls(
            id=view.id,
            endpoint=view.endpoint_id,
            event=view.event_id,
            status=view.status,
            attempts=view.attempts,
            next_attempt_at=view.next_attempt_at,
            last_status_code=view.last_status_code,
            last_error=view.last_error,
            created_at=view.created_at,
            finished_at=view.finished_at,
        )
