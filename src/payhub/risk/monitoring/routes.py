"""`GET /v1/risk/monitoring`: how far transaction monitoring is over the outbox, and its
coverage. Platform keys with the operator or the compliance scope only."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.api.deps import ComplianceWork
from payhub.core.clock import to_rfc3339
from payhub.risk.monitoring.consumer import MONEY_EVENTS, MonitoringStatus, status

router = APIRouter(prefix="/v1/risk", tags=["risk monitoring"])


class LagOut(BaseModel):
    events: int = Field(description="Money-moving events not processed yet.")
    seconds: float = Field(description="How long the oldest of them has waited.")


class MonitoringOut(BaseModel):
    object: Literal["risk_monitoring"] = "risk_monitoring"
    cursor: str | None = Field(description="The last event processed.")
    cursor_at: str | None
    event_types: list[str] = Field(description="The events that move money (the edges).")
    money_events: int = Field(description="Money-moving events in the outbox.")
    events_processed: int
    coverage: float = Field(description="events_processed ÷ money_events (1.0 when none).")
    skipped: int = Field(
        description="Money-moving events at or before the cursor never processed (0 expected)."
    )
    lag: LagOut
    transactions_observed: int
    alerts_raised: int
    alerts_revised: int
    updated_at: str | None

    @classmethod
    def of(cls, s: MonitoringStatus) -> MonitoringOut:
        return cls(
            cursor=s.cursor,
            cursor_at=to_rfc3339(s.cursor_at) if s.cursor_at is not None else None,
            event_types=list(MONEY_EVENTS),
            money_events=s.money_events,
            events_processed=s.events_processed,
            coverage=s.coverage,
            skipped=s.skipped,
            lag=LagOut(events=s.lag_events, seconds=round(s.lag_seconds, 3)),
            transactions_observed=s.transactions_observed,
            alerts_raised=s.alerts_raised,
            alerts_revised=s.alerts_revised,
            updated_at=to_rfc3339(s.updated_at) if s.updated_at is not None else None,
        )


@router.get("/monitoring", response_model=MonitoringOut)
async def get_monitoring(uow: ComplianceWork) -> Response:
    """Transaction monitoring over the outbox: the cursor, the lag, and the coverage —
    money-moving events processed ÷ those in the outbox."""

    async def work(session: AsyncSession) -> BaseModel:
        return MonitoringOut.of(await status(session))

    return await uow.read(work)
