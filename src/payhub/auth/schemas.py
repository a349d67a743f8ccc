"""API shapes of API keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel, Timestamp
from payhub.auth.service import IssuedKey, KeyView

PlatformScope = Literal[
    "operator", "compliance", "detokenize", "bank_files", "read", "write", "refunds"
]


class KeyOut(BaseModel):
    object: Literal["api_key"] = "api_key"
    id: str
    display: str
    name: str
    role: str
    merchant: str | None
    scopes: list[str]
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    signing_algorithm: str | None = Field(
        default=None, description="Set when every request with this key must be signed."
    )
    rate_limit_per_s: int | None = Field(
        default=None, description="The key's own requests a second per class; null: defaults."
    )
    secret: str | None = Field(default=None, description="Only in the answer that made it.")

    @classmethod
    def of(cls, view: KeyView, issued: IssuedKey | None = None) -> KeyOut:
        return cls(
            id=view.id,
            display=view.display,
            name=view.name,
            role=view.role,
            merchant=view.merchant_id,
            scopes=view.scopes,
            created_at=view.created_at,
            expires_at=view.expires_at,
            revoked_at=view.revoked_at,
            signing_algorithm=view.signing_algorithm,
            rate_limit_per_s=view.rate_limit_per_s,
            secret=issued.secret if issued else None,
        )


class PlatformKeyIn(StrictModel):
    """A key of the platform's side: an operator, a compliance officer (`compliance` only),
    a detokenisation service (`detokenize`), the bank-file desk (`bank_files`)."""

    name: str = Field(min_length=1, max_length=200)
    scopes: list[PlatformScope] = Field(min_length=1)
    expires_at: Timestamp | None = None


class RollIn(StrictModel):
    overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="How long the old key keeps working (0: retired at once; at most 30 days).",
    )


class SigningIn(StrictModel):
    algorithm: Literal["hmac-sha256", "hmac-sm3"] | None = Field(
        default=None,
        description="The MAC: HMAC-SHA256, or HMAC-SM3 (国密); default: the deployment's suite.",
    )


class SigningSecretOut(BaseModel):
    object: Literal["signing_secret"] = "signing_secret"
    key: str
    algorithm: str
    secret: str | None = Field(
        default=None, description="Only in the answer that made it: sign requests with it."
    )


class LimitIn(StrictModel):
    per_second: int | None = Field(
        ge=1,
        le=100_000,
        description="Requests a second in each class (reads, writes); null: the defaults.",
    )
