"""Data-key versions: creating, choosing, retiring and unwrapping them.

The active key — the one new rows are encrypted with — is the newest version not retired.
When there is none (the first card ever stored, or every key retired) a new version is
made. Rotation adds a version; rows keep the version they were written with, so old rows
still decrypt under their own key. A retired key keeps decrypting but never encrypts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.db.session import RetryTransaction
from payhub.vault import crypto
from payhub.vault.models import DataKey

_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class UnwrappedKey:
    version: int
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"UnwrappedKey(version={self.version})"


@dataclass(frozen=True, slots=True)
class DataKeyInfo:
    version: int
    created_at: datetime
    retired_at: datetime | None

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


def _master_key() -> bytes:
    return get_settings().vault_master_key_bytes()


def _unwrap(row: DataKey) -> UnwrappedKey:
    return unwrap(row.version, row.wrapped_key)


def unwrap(version: int, wrapped_key: bytes) -> UnwrappedKey:
    """A data key read with its row (by a caller that joined it in), unwrapped."""
    return UnwrappedKey(version, crypto.unwrap_data_key(_master_key(), wrapped_key, version))


async def _insert_next_version(session: AsyncSession) -> DataKey | None:
    """A new version, one above the newest; None when a concurrent writer took that number
    (its transaction has then committed, so reading again sees its key)."""
    newest = (await session.execute(select(func.max(DataKey.version)))).scalar_one_or_none()
    version = (newest or 0) + 1
    row = DataKey(
        version=version,
        wrapped_key=crypto.wrap_data_key(_master_key(), crypto.new_data_key(), version),
        created_at=clock.now(),
        retired_at=None,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return None
    return row


async def create_data_key(session: AsyncSession) -> int:
    """Add a new data-key version (rotation); from now on it encrypts new rows."""
    for _ in range(_ATTEMPTS):
        row = await _insert_next_version(session)
        if row is not None:
            return row.version
    raise RetryTransaction


async def retire_data_key(session: AsyncSession, version: int) -> None:
    """Stop a version from encrypting new rows (it still decrypts its own). Idempotent."""
    row = await session.get(DataKey, version, with_for_update=True)
    if row is None:
        raise PayHubError("validation_error", param="version", detail="no such data key version")
    if row.retired_at is None:
        row.retired_at = clock.now()
        await session.flush()


async def active_data_key(session: AsyncSession) -> UnwrappedKey:
    """The key new rows are encrypted with, made when there is none."""
    for _ in range(_ATTEMPTS):
        row = (
            await session.execute(
                select(DataKey)
                .where(DataKey.retired_at.is_(None))
                .order_by(DataKey.version.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            # The first key, or every key retired. Racing writers: one inserts, the others
            # read its key on the next round.
            row = await _insert_next_version(session)
        if row is not None:
            return _unwrap(row)
    raise RetryTransaction


async def data_key(session: AsyncSession, version: int) -> UnwrappedKey:
    """The key of a given version, retired or not (to decrypt rows written under it)."""
    row = await session.get(DataKey, version)
    if row is None:
        raise crypto.VaultIntegrityError(f"vault data key version {version} does not exist")
    return _unwrap(row)


async def list_data_keys(session: AsyncSession) -> list[DataKeyInfo]:
    rows = (await session.execute(select(DataKey).order_by(DataKey.version))).scalars()
    return [DataKeyInfo(row.version, row.created_at, row.retired_at) for row in rows]
