"""Event, webhook endpoint and delivery tables. Only `payhub.events` reads or writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class Event(Base):
    """The outbox: written in the same transaction as the state change it reports."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_undispatched", "dispatched_at", "id"),
        Index("ix_events_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    # Whose event it is (None: platform-wide); decides which endpoints receive it.
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    # Set once deliveries have been made for every subscribed endpoint.
    dispatched_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_merchant_id", "merchant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2000))
    # Event types, or ["*"] for all.
    events: Mapped[list[str]]
    # Signs every delivery; shown in clear once, when the endpoint is made or rolled. Kept
    # sealed under the master key (`payhub.events.service.seal_secret`, the endpoint id
    # bound in), so a copy of the database yields no secret that forges a delivery.
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    # The secret a roll replaced, sealed the same way: deliveries carry its signature too
    # until the overlap ends, so a receiver can switch without refusing any delivery.
    sealed_previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One event owed to one endpoint, retried with backoff until it succeeds or ages out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(40), ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(String(40), ForeignKey("events.id"))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    # A worker that claims the delivery leases it until then; no other worker sends it
    # meanwhile.
    leased_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """The delivery log: every try, with what the endpoint answered."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40), ForeignKey("webhook_deliveries.id"))
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
