"""Issuing and checking API keys.

A key looks like `sk_op_<random>` (operator) or `sk_mer_<random>` (merchant). Only a keyed
hash (HMAC-SHA256 with the server's pepper) is stored, so a copy of the table does not
give working keys; the key itself is returned once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.auth import signing
from payhub.auth.models import ApiKey
from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.db.sql import Sql, as_sql, table_of
from payhub.vault import master

OPERATOR = "operator"
MERCHANT = "merchant"
COMPLIANCE = "compliance"
# Revealing a stored card or account number: never implied by `operator`.
DETOKENIZE = "detokenize"
# Bank files (a split batch's pain.001 carries the receivers' account numbers in clear; a
# pain.002 settles payouts): never implied by `operator` either.
BANK_FILES = "bank_files"
ALL_SCOPES = (
    "read",
    "write",
    "refunds",
    "payouts",
    "operator",
    "compliance",
    DETOKENIZE,
    BANK_FILES,
)
# Scopes only platform (operator-role) keys may hold: a merchant key never reaches them.
PLATFORM_SCOPES = frozenset({OPERATOR, COMPLIANCE, DETOKENIZE, BANK_FILES})
OPERATOR_SCOPES = ["operator", "read", "write", "refunds"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its role, its merchant (if any) and its scopes."""

    key_id: str
    role: str
    merchant_id: str | None
    scopes: frozenset[str]
    # Set when the key requires signed requests (see payhub.auth.signing).
    signing_algorithm: str | None = None
    signing_secret: bytes | None = field(default=None, repr=False)
    # Requests a second in each class, when the key has its own limit.
    rate_limit_per_s: int | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    secret: str  # shown once
    display: str


def hash_key(secret: str) -> str:
    pepper = get_settings().key_pepper.get_secret_value().encode()
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def _display(secret: str) -> str:
    return secret[:12] + "…"


async def issue_key(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    scopes: list[str],
    merchant_id: str | None = None,
    secret: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Create a key; `secret` lets a deployment install a key it already holds."""
    if role not in (OPERATOR, MERCHANT):
        raise PayHubError("validation_error", param="role", detail="operator or merchant")
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise PayHubError("validation_error", param="scopes", detail="unknown scope")
    if role == MERCHANT and PLATFORM_SCOPES & set(scopes):
        raise PayHubError("validation_error", param="scopes", detail="not for merchant keys")
    if not scopes:
        raise PayHubError("validation_error", param="scopes", detail="at least one scope")
    if secret is None:
        secret = ("sk_op_" if role == OPERATOR else "sk_mer_") + secrets.token_urlsafe(32)
    row = ApiKey(
        id=new_id("key"),
        key_hash=hash_key(secret),
        display=_display(secret),
        name=name,
        role=role,
        merchant_id=merchant_id,
        scopes=sorted(set(scopes)),
        created_at=clock.now(),
        expires_at=expires_at,
        revoked_at=None,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        "api_key.issued",
        target_type="api_key",
        target_id=row.id,
        details={
            "name": name,
            "role": role,
            "merchant": merchant_id,
            "scopes": row.scopes,
            "expires_at": clock.to_rfc3339(expires_at) if expires_at else None,
        },
    )
    return IssuedKey(row.id, secret, row.display)


_KEYS = table_of(ApiKey)
_KEY_BY_HASH = select(
    _KEYS.c.id,
    _KEYS.c.role,
    _KEYS.c.merchant_id,
    _KEYS.c.scopes,
    _KEYS.c.expires_at,
    _KEYS.c.revoked_at,
    _KEYS.c.signing_algorithm,
    _KEYS.c.signing_secret,
    _KEYS.c.rate_limit_per_s,
).where(_KEYS.c.key_hash == bindparam("key_hash"))


async def authenticate(tx: AsyncSession | Sql, secret: str) -> Principal:
    row = await (await as_sql(tx)).one(_KEY_BY_HASH, key_hash=hash_key(secret))
    now = clock.now()
    if (
        row is None
        or row["revoked_at"] is not None
        or (row["expires_at"] is not None and row["expires_at"] <= now)
    ):
        raise PayHubError("api_key_invalid")
    return Principal(
        row["id"],
        row["role"],
        row["merchant_id"],
        frozenset(row["scopes"]),
        row["signing_algorithm"],
        row["signing_secret"],
        row["rate_limit_per_s"],
    )


async def has_operator_key(session: AsyncSession) -> bool:
    found = await session.execute(
        select(ApiKey.id).where(ApiKey.role == OPERATOR, ApiKey.revoked_at.is_(None)).limit(1)
    )
    return found.first() is not None


async def ensure_operator_key(session: AsyncSession, configured: str | None) -> IssuedKey | None:
    """On start: install the configured operator key, or make one if none exists.

    Returns a key only when one was generated now (so it can be printed once)."""
    if configured:
        exists = await session.execute(
            select(ApiKey.id).where(ApiKey.key_hash == hash_key(configured))
        )
        if exists.first() is None:
            await issue_key(
                session,
                name="operator (configured)",
                role=OPERATOR,
                scopes=OPERATOR_SCOPES,
                secret=configured,
            )
        return None
    if await has_operator_key(session):
        return None
    return await issue_key(session, name="operator", role=OPERATOR, scopes=OPERATOR_SCOPES)


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as it may be shown after it was made: never the key itself."""

    id: str
    display: str
    name: str
    role: str
    merchant_id: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    signing_algorithm: str | None = None
    rate_limit_per_s: int | None = None


def _key_view(row: ApiKey) -> KeyView:
    return KeyView(
        id=row.id,
        display=row.display,
        name=row.name,
        role=row.role,
        merchant_id=row.merchant_id,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        signing_algorithm=row.signing_algorithm,
        rate_limit_per_s=row.rate_limit_per_s,
    )


async def get_key(session: AsyncSession, key_id: str) -> KeyView:
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise PayHubError("api_key_not_found", key=key_id)
    return _key_view(row)


async def list_keys(session: AsyncSession, *, merchant_id: str | None) -> list[KeyView]:
    """The keys of one merchant, or the operator's keys when `merchant_id` is None."""
    query = select(ApiKey).order_by(ApiKey.id.desc())
    if merchant_id is None:
        query = query.where(ApiKey.role == OPERATOR)
    else:
        query = query.where(ApiKey.merchant_id == merchant_id)
    return [_key_view(r) for r in (await session.execute(query)).scalars().all()]


async def revoke_key(
    session: AsyncSession, key_id: str, *, merchant_id: str | None = None
) -> KeyView:
    """Revoke a key (of `merchant_id`, when given); every process refuses it from the next
    request on, since keys are looked up on every request."""
    row = await _owned_key(session, key_id, merchant_id)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        await session.flush()
        await audit.record(session, "api_key.revoked", target_type="api_key", target_id=row.id)
    return _key_view(row)


async def _owned_key(session: AsyncSession, key_id: str, merchant_id: str | None) -> ApiKey:
    """A key (of `merchant_id`, when given; the operator's own when it is the empty string),
    locked for a change."""
    row = await session.get(ApiKey, key_id, with_for_update=True)
    if row is None or (merchant_id is not None and row.merchant_id != (merchant_id or None)):
        raise PayHubError("api_key_not_found", key=key_id)
    return row


SIGNING_ALGORITHMS = ("hmac-sha256", "hmac-sm3")


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """A key's request-signing secret, shown once when signing is turned on."""

    key_id: str
    algorithm: str
    secret: str = field(repr=False)


async def enable_signing(
    session: AsyncSession, key_id: str, *, algorithm: str, merchant_id: str | None = None
) -> SigningSecret:
    """Require signed requests from this key from now on, with a new signing secret (a
    second call replaces the secret: the old one stops working at once)."""
    if algorithm not in SIGNING_ALGORITHMS:
        raise PayHubError(
            "validation_error", param="algorithm", detail=" or ".join(SIGNING_ALGORITHMS)
        )
    row = await _owned_key(session, key_id, merchant_id)
    secret = signing.new_secret()
    row.signing_algorithm = algorithm
    row.signing_secret = signing.seal_secret(row.id, secret)
    await session.flush()
    await audit.record(
        session,
        "api_key.signing_enabled",
        target_type="api_key",
        target_id=row.id,
        details={"algorithm": algorithm},
    )
    return SigningSecret(row.id, algorithm, secret)


async def disable_signing(
    session: AsyncSession, key_id: str, *, merchant_id: str | None = None
) -> KeyView:
    row = await _owned_key(session, key_id, merchant_id)
    if row.signing_algorithm is not None:
        row.signing_algorithm, row.signing_secret = None, None
        await session.flush()
        await audit.record(
            session, "api_key.signing_disabled", target_type="api_key", target_id=row.id
        )
    return _key_view(row)


MAX_RATE = 100_000


async def set_rate_limit(
    session: AsyncSession, key_id: str, per_second: int | None, *, merchant_id: str | None = None
) -> KeyView:
    """Give a key its own rate (requests a second in each class), or None: the defaults."""
    if per_second is not None and not 0 < per_second <= MAX_RATE:
        raise PayHubError("validation_error", param="per_second", detail=f"1 to {MAX_RATE}")
    row = await _owned_key(session, key_id, merchant_id)
    before = row.rate_limit_per_s
    row.rate_limit_per_s = per_second
    await session.flush()
    if before != per_second:
        await audit.record(
            session,
            "api_key.rate_limit_changed",
            target_type="api_key",
            target_id=row.id,
            details={"per_second": [before, per_second]},
        )
    return _key_view(row)


MAX_OVERLAP = timedelta(days=30)


async def roll_key(
    session: AsyncSession,
    key_id: str,
    *,
    overlap: timedelta,
    merchant_id: str | None = None,
) -> IssuedKey:
    """Replace a key with a new one of the same role, merchant and scopes. The old key keeps
    working for `overlap` (so deployments can switch without an outage), then expires;
    `overlap` zero retires it at once."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise PayHubError("validation_error", param="overlap_seconds", detail="0 to 30 days")
    row = await _owned_key(session, key_id, merchant_id)
    now = clock.now()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise PayHubError("api_key_not_found", key=key_id)
    issued = await issue_key(
        session,
        name=row.name,
        role=row.role,
        scopes=list(row.scopes),
        merchant_id=row.merchant_id,
        expires_at=row.expires_at,
    )
    if row.signing_algorithm is not None and row.signing_secret is not None:
        # The new key signs like the old one, with the same signing secret: rolling the
        # API key does not make its holder change how requests are signed.
        fresh = await session.get(ApiKey, issued.id)
        assert fresh is not None
        secret = master.open_sealed(signing.PURPOSE, row.id, row.signing_secret)
        fresh.signing_algorithm = row.signing_algorithm
        fresh.signing_secret = master.seal(signing.PURPOSE, fresh.id, secret)
    ends = now + overlap
    row.expires_at = ends if row.expires_at is None else min(row.expires_at, ends)
    await session.flush()
    await audit.record(
        session,
        "api_key.rolled",
        target_type="api_key",
        target_id=row.id,
        details={"replaced_by": issued.id, "old_key_expires_at": clock.to_rfc3339(row.expires_at)},
    )
    return issued
