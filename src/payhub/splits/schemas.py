"""API shapes of split batches."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from payhub.api.schemas import StrictModel


class LineIn(StrictModel):
    receiver: str = Field(min_length=1, max_length=40, description="A verified payee's id.")
    amount: StrictInt | None = Field(default=None, description="Minor units; or a share.")
    share_bps: StrictInt | None = Field(
        default=None, description="Basis points of the net collected (rounded down)."
    )


class CutIn(StrictModel):
    amount: StrictInt | None = None
    bps: StrictInt | None = None


class SplitBatchIn(StrictModel):
    merchant: str | None = Field(default=None, description="Operator keys only.")
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    payments: list[str] = Field(
        default_factory=list, max_length=10_000, description="The round's captured payments."
    )
    round: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Or: every captured payment whose metadata `round` is this.",
    )
    # 10 000 receivers fit the API's 1 MB body limit; larger batches go through the CLI.
    lines: list[LineIn] = Field(min_length=1, max_length=10_000)
    platform_commission: CutIn = Field(default_factory=CutIn)
    leader_commission: CutIn = Field(default_factory=CutIn)
    clawback: Literal["proportional", "leader_only"] = "proportional"
    delivery: Literal["rails", "bank_file"] = Field(
        default="rails",
        description="`rails`: each payout sent on its rail; `bank_file`: the payouts wait, in "
        "transit, for the batch's pain.001 file and are settled by the bank's pain.002.",
    )
