"""Data-key versions: creating, rotating, retiring, destroying and unwrapping them.

A key's life is `active` → `retiring` → `retired` → `destroyed` (see `DataKey`). The one
active key encrypts new rows; when there is none (the first card ever stored) the next
writer makes one. Rotation makes a new active key with the
suite's algorithm and turns the previous one `retiring`; rows keep decrypting under their
own version until the re-encryption job (`payhub.vault.reencrypt`) moves them. Retiring and
destroying are refused while any row still uses the key.

Locks close the races between these and writers of rows: a writer (a bind, a re-encryption
batch) holds a share lock on the active key's row until it commits, and rotation, retiring
and destroying take the row's update lock. So a row can never be committed under a key that
was retired or destroyed after the writer chose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.cryptosuite import CIPHER_OF, Aead
from payhub.core.errors import PayHubError
from payhub.db.session import RetryTransaction
from payhub.vault import crypto, masterkey
from payhub.vault.models import DataKey, VaultBankAccount, VaultCard

_ATTEMPTS = 3

ACTIVE = "active"
RETIRING = "retiring"
RETIRED = "retired"
DESTROYED = "destroyed"


@dataclass(frozen=True, slots=True)
class UnwrappedKey:
    version: int
    algorithm: Aead
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"UnwrappedKey(version={self.version}, algorithm={self.algorithm})"


@dataclass(frozen=True, slots=True)
class DataKeyInfo:
    version: int
    algorithm: str
    state: str
    created_at: datetime
    deactivated_at: datetime | None
    destroyed_at: datetime | None
    rows: int  # cards and bank accounts encrypted under it


def suite_algorithm() -> Aead:
    return CIPHER_OF[get_settings().crypto_suite]


def unwrap(version: int, algorithm: str, wrapped_key: bytes | None) -> UnwrappedKey:
    """A data key read with its row (by a caller that joined it in), unwrapped."""
    if wrapped_key is None:
        raise crypto.VaultIntegrityError(f"vault data key version {version} was destroyed")
    cipher = Aead(algorithm)
    key = crypto.unwrap_data_key(masterkey.master_key(), cipher, wrapped_key, version)
    return UnwrappedKey(version, cipher, key)


def _unwrap(row: DataKey) -> UnwrappedKey:
    return unwrap(row.version, row.algorithm, row.wrapped_key)


async def _insert_active(session: AsyncSession, algorithm: Aead) -> DataKey | None:
    """A new active version, one above the newest; None when a concurrent writer took that
    number or made an active key first (its transaction has then committed, so reading
    again sees its key)."""
    newest = (await session.execute(select(func.max(DataKey.version)))).scalar_one_or_none()
    version = (newest or 0) + 1
    row = DataKey(
        version=version,
        algorithm=algorithm.value,
        state=ACTIVE,
        wrapped_key=crypto.wrap_data_key(
            masterkey.master_key(), algorithm, crypto.new_data_key(algorithm), version
        ),
        created_at=clock.now(),
        deactivated_at=None,
        destroyed_at=None,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return None
    return row


_ACTIVE = select(DataKey).where(DataKey.state == ACTIVE)


async def active_data_key(session: AsyncSession) -> UnwrappedKey:
    """The key new rows are encrypted with, made (with the suite's algorithm) when there is
    none. Its row stays share-locked until the caller commits, so the key cannot be
    retired or destroyed under a row being written with it."""
    for _ in range(_ATTEMPTS):
        row = (await session.execute(_ACTIVE.with_for_update(read=True))).scalar_one_or_none()
        if row is None:
            # The first key. Racing writers: one inserts, the others read its key on the
            # next round.
            row = await _insert_active(session, suite_algorithm())
        if row is not None:
            return _unwrap(row)
    raise RetryTransaction


async def active_version(session: AsyncSession) -> int | None:
    """The active key's version, without making one or locking it."""
    found = await session.execute(select(DataKey.version).where(DataKey.state == ACTIVE))
    return found.scalar_one_or_none()


async def rotate(session: AsyncSession, algorithm: Aead | None = None) -> DataKeyInfo:
    """A new active data key (the suite's algorithm unless given); the previous active key
    turns `retiring`. Audited as `vault.data_key.rotated`."""
    algorithm = algorithm or suite_algorithm()
    previous = (await session.execute(_ACTIVE.with_for_update())).scalar_one_or_none()
    if previous is not None:
        previous.state, previous.deactivated_at = RETIRING, clock.now()
        await session.flush()
    row = await _insert_active(session, algorithm)
    if row is None:
        # A concurrent rotation committed first: start over, on top of its key.
        raise RetryTransaction
    await audit.record(
        session,
        "vault.data_key.rotated",
        target_type="data_key",
        target_id=str(row.version),
        details={
            "version": row.version,
            "algorithm": row.algorithm,
            "previous": previous.version if previous is not None else None,
        },
    )
    return await _info(session, row)


async def _locked(session: AsyncSession, version: int) -> DataKey:
    row = await session.get(DataKey, version, with_for_update=True, populate_existing=True)
    if row is None:
        raise PayHubError("data_key_not_found", version=version)
    return row


async def rows_under(session: AsyncSession, version: int) -> int:
    total = 0
    for table in (VaultCard, VaultBankAccount):
        query = select(func.count()).select_from(table).where(table.key_version == version)
        total += int((await session.execute(query)).scalar_one())
    return total


async def _refuse_in_use(session: AsyncSession, row: DataKey) -> None:
    in_use = await rows_under(session, row.version)
    if in_use:
        raise PayHubError("data_key_in_use", version=row.version, count=in_use)


async def retire(session: AsyncSession, version: int) -> DataKeyInfo:
    """`retiring` → `retired`: refused (`data_key_in_use`) while any row is encrypted under
    it, and for the active key (rotate first). Idempotent."""
    row = await _locked(session, version)
    if row.state in (RETIRED, DESTROYED):
        return await _info(session, row)
    if row.state == ACTIVE:
        raise PayHubError(
            "data_key_unexpected_state", version=version, state=row.state, action="retired"
        )
    await _refuse_in_use(session, row)
    row.state = RETIRED
    await session.flush()
    await audit.record(
        session,
        "vault.data_key.retired",
        target_type="data_key",
        target_id=str(version),
        details={"version": version},
    )
    return await _info(session, row)


async def destroy(session: AsyncSession, version: int) -> DataKeyInfo:
    """Erase a key's wrapped material for good: nothing encrypted under it can be decrypted
    again. Refused for the active key and while any row is encrypted under it. Idempotent."""
    row = await _locked(session, version)
    if row.state == DESTROYED:
        return await _info(session, row)
    if row.state == ACTIVE:
        raise PayHubError(
            "data_key_unexpected_state", version=version, state=row.state, action="destroyed"
        )
    await _refuse_in_use(session, row)
    row.state, row.wrapped_key, row.destroyed_at = DESTROYED, None, clock.now()
    await session.flush()
    await audit.record(
        session,
        "vault.data_key.destroyed",
        target_type="data_key",
        target_id=str(version),
        details={"version": version, "algorithm": row.algorithm},
    )
    return await _info(session, row)


async def data_key(session: AsyncSession, version: int) -> UnwrappedKey:
    """The key of a given version, whatever its state (to decrypt rows written under it);
    a destroyed key raises `VaultIntegrityError`."""
    row = await session.get(DataKey, version)
    if row is None:
        raise crypto.VaultIntegrityError(f"vault data key version {version} does not exist")
    return _unwrap(row)


async def _info(session: AsyncSession, row: DataKey) -> DataKeyInfo:
    return DataKeyInfo(
        row.version,
        row.algorithm,
        row.state,
        row.created_at,
        row.deactivated_at,
        row.destroyed_at,
        await rows_under(session, row.version),
    )


async def list_data_keys(session: AsyncSession) -> list[DataKeyInfo]:
    rows = (await session.execute(select(DataKey).order_by(DataKey.version))).scalars().all()
    return [await _info(session, row) for row in rows]
