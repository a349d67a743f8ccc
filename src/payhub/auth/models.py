"""API-key table. Only the hash of a key is stored; the key itself is shown once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from payhub.db.base import Base


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("role IN ('operator', 'merchant')", name="role"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so people can tell their keys apart.
    display: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Request signing, when the key's holder turned it on: the MAC ("hmac-sha256" or
    # "hmac-sm3") and its secret, sealed under the master key (payhub.vault.master).
    signing_algorithm: Mapped[str | None] = mapped_column(String(20))
    signing_secret: Mapped[bytes | None] = mapped_column(LargeBinary())
    # Requests a second this key may make in each class (None: the deployment's defaults).
    rate_limit_per_s: Mapped[int | None] = mapped_column(Integer())


class RequestNonce(Base):
    """A nonce a signed request used, kept while its timestamp could still be accepted, so
    a replay is refused by every process."""

    __tablename__ = "request_nonces"
    __table_args__ = (Index("ix_request_nonces_expires_at", "expires_at"),)

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime]


class RateBucket(Base):
    """One key's token bucket for one endpoint class (see payhub.auth.limits)."""

    __tablename__ = "rate_buckets"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(20), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float())
    # Unix seconds of the last refill (a float: plain arithmetic on every database).
    stamp: Mapped[float] = mapped_column(Float())
    allowed: Mapped[bool]
