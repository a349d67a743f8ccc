"""Payout settings (`PAYHUB_PAYOUT_*`): rail limits and choices, fees, daily limits.

Read once per process; tests and the benchmark install their own with `use_config`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PayoutConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYHUB_PAYOUT_", extra="ignore")

    partner_bank: str = Field(
        default="PARTNER", description="Bank code of the partner bank (internal transfers)."
    )
    partner_rail: str = "partner_internal"
    realtime_rail: str = "ibps"
    large_rail: str = "hvps"
    # The real-time rail's per-payment limit; None: the rail's own maximum.
    realtime_limit: int | None = Field(default=None, gt=0)
    # Above that limit: one HVPS payout, or several real-time payouts of at most the limit.
    large_payouts: Literal["hvps", "split"] = "hvps"
    # An HVPS payout outside its business hours: queued until it opens, or refused.
    closed_rail: Literal["queue", "refuse"] = "queue"
    # What an instant payout costs the payee (to platform:fees): basis points plus fixed.
    instant_fee_bps: int = Field(default=10, ge=0, le=10_000)
    instant_fee_fixed: int = Field(default=100, ge=0)
    # Default per payee per day (China time), all rails; None: no limit.
    daily_limit: int | None = Field(default=None, gt=0)
    # Penny-drop verification sends this much on the payee's rail (platform's cost).
    penny_drop_amount: int = Field(default=1, gt=0)
    # A payout sent and still unanswered this long is asked about (`payouts.resolve`).
    resolve_after_s: float = Field(default=60.0, ge=0.0)
    # A bank-file payout whose status report has not come after this many business days
    # (the partner bank's calendar) is listed as overdue (`payhub splits overdue`).
    bank_file_overdue_days: int = Field(default=2, ge=1, le=30)
    # Paid payouts are asked whether the bank sent them back for this long after payment.
    return_window_s: float = Field(default=3 * 86_400.0, ge=0.0)
    return_check_every_s: float = Field(default=3_600.0, ge=0.0)
    # Payouts a dispatcher run sends at once (rail limits: the rails' own throughput).
    concurrency: int = Field(default=32, ge=1, le=1_000)
    # Payouts a split batch's runner keeps in flight on each rail (JSON in the environment,
    # e.g. '{"ibps": 128}'); a rail not named takes `concurrency`.
    rail_concurrency: dict[str, int] = Field(
        default_factory=lambda: {"partner_internal": 256, "ibps": 256, "hvps": 64}
    )

    def rail_limit(self, rail: str) -> int:
        """Calls in flight at once on `rail`."""
        return max(1, min(self.rail_concurrency.get(rail, self.concurrency), 1_000))


_config: PayoutConfig | None = None


def get_config() -> PayoutConfig:
    global _config
    if _config is None:
        _config = PayoutConfig()
    return _config


@contextmanager
def use_config(config: PayoutConfig) -> Iterator[PayoutConfig]:
    global _config
    previous, _config = _config, config
    try:
        yield config
    finally:
        _config = previous
