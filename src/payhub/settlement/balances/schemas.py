"""API shapes of merchant balances, settlement settings and settlement runs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel
from payhub.core.clock import to_rfc3339
from payhub.settlement.balances.settings import SettingsView
from payhub.settlement.balances.views import MerchantBalance


class BalanceOut(BaseModel):
    object: str = "balance"
    currency: str
    pending: int
    available: int
    reserved: int
    in_transit: int

    @classmethod
    def of(cls, line: MerchantBalance) -> BalanceOut:
        return cls(
            currency=line.currency,
            pending=line.pending,
            available=line.available,
            reserved=line.reserved,
            in_transit=line.in_transit,
        )


class BalancesOut(BaseModel):
    object: str = "list"
    merchant: str
    data: list[BalanceOut]


class SettingsIn(StrictModel):
    """Only the fields given change; the others keep their value."""

    mode: str | None = Field(default=None, max_length=20, description="realtime or t1")
    cutoff: str | None = Field(
        default=None, max_length=10, description="Daily cut-off, HH:MM Beijing time"
    )
    reserve_bps: int | None = Field(
        default=None, description="Rolling reserve, basis points of each settled amount"
    )
    reserve_days: int | None = Field(default=None, description="Days a reserve is held")
    calendar: str | None = Field(
        default=None, max_length=8, description="Country of the business-day calendar"
    )


class SettingsOut(BaseModel):
    object: str = "settlement_settings"
    merchant: str
    mode: str
    cutoff: str
    reserve_bps: int
    reserve_days: int
    calendar: str
    version: int
    updated_at: str | None

    @classmethod
    def of(cls, view: SettingsView) -> SettingsOut:
        return cls(
            merchant=view.merchant_id,
            mode=view.mode,
            cutoff=view.cutoff,
            reserve_bps=view.reserve_bps,
            reserve_days=view.reserve_days,
            calendar=view.calendar,
            version=view.version,
            updated_at=to_rfc3339(view.updated_at) if view.updated_at else None,
        )


class SettlementOut(BaseModel):
    """One settlement journal (or a daily run with nothing to move: `journal` null).
    `amount` > 0 left pending for available (`available`) and reserve (`reserve`);
    `amount` < 0 was taken back into pending (refunds of settled money)."""

    id: str
    object: str = "settlement"
    merchant: str
    currency: str
    kind: str
    mode: str
    business_day: str
    window_end: str | None
    amount: int
    available: int
    reserve: int
    reserve_taken: int
    reserve_release_at: str | None
    reserve_released_at: str | None
    released: int
    journal: str | None
    reference: str | None
    posted_at: str


class SettlementsOut(BaseModel):
    object: str = "list"
    data: list[SettlementOut]
    has_more: bool


class ChannelSettlementOut(BaseModel):
    id: str
    object: str = "channel_settlement"
    channel: str
    currency: str
    period_start: str
    period_end: str
    settles_on: str
    lines: int
    gross_captured: int
    gross_refunded: int
    fees: int
    fees_booked: int
    net: int
    statement_ref: str
    journal: str | None
    posted_at: str


class ChannelSettlementsOut(BaseModel):
    object: str = "list"
    data: list[ChannelSettlementOut]
    has_more: bool


class RunIn(StrictModel):
    merchant: str | None = Field(default=None, max_length=40)


class RunOut(BaseModel):
    object: str = "settlement_run"
    merchants: int
    runs: int
    settled: int
    recovered: int
    skipped: int
    reserves_released: int


class ChannelRunOut(BaseModel):
    object: str = "channel_settlement_run"
    periods: int
    data: list[ChannelSettlementOut]
