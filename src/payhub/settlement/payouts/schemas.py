"""API shapes of payees and payouts. No output carries a bank account number: a payee
names its account by vault token and shows the last four digits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from payhub.api.schemas import StrictModel

PayoutStatus = Literal["pending", "in_transit", "paid", "failed", "returned"]
PayeeRole = Literal["merchant", "supplier", "group_leader"]


class PayeeIn(StrictModel):
    merchant: str | None = Field(default=None, description="Operator keys only.")
    bank_account: str = Field(min_length=1, max_length=40, description="A bank-account token.")
    role: PayeeRole = "merchant"
    daily_limit: StrictInt | None = Field(default=None, description="Minor units a day.")
    split_cap: StrictInt | None = Field(
        default=None, description="The most one split batch may give this payee."
    )


class VerifyIn(StrictModel):
    method: Literal["operator", "penny_drop"] = Field(
        default="penny_drop",
        description="`operator`: an operator checked the account (operator keys only); "
        "`penny_drop`: a tiny transfer on the rail proves it.",
    )


class PayoutIn(StrictModel):
    merchant: str | None = Field(default=None, description="Operator keys only.")
    amount: StrictInt = Field(description="Minor units of `currency`.")
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    destination: str = Field(
        min_length=1, max_length=40, description="A payee id, or its bank-account token."
    )
    rail: str | None = Field(default=None, max_length=64, description="Else chosen.")
    instant: StrictBool = Field(default=False, description="Sent at once, for a fee.")


class ObjectOut(BaseModel):
    model_config = {"extra": "allow"}

    id: str
    object: str


class ListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    has_more: bool = False
