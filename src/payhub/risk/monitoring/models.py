"""The monitoring consumer's cursor over the outbox. Only `payhub.risk.monitoring.consumer`
reads or writes it.

One row: the last outbox event the monitor has processed and running totals. Whoever
advances it holds the row's lock, so each event is processed once however many workers run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class RiskMonitorCursor(Base):
    __tablename__ = "risk_monitor_cursor"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # "outbox"
    # The last money-moving event processed (events sort by id in time order); None: none.
    last_event_id: Mapped[str | None] = mapped_column(String(40))
    last_event_at: Mapped[datetime | None]
    events: Mapped[int]  # money-moving events processed
    transactions: Mapped[int]  # of them, fed to the monitor as transactions
    alerts_raised: Mapped[int]
    alerts_revised: Mapped[int]
    updated_at: Mapped[datetime]
