"""Re-encryption: moving stored numbers from older data keys to the active one.

After a rotation the rows written under the previous keys still decrypt under them; this
moves them, a batch per transaction, so those keys can then be retired and destroyed. Each
row is decrypted under its own key, encrypted under the active key (bound to its token as
always) and updated in place, in one statement: a reader sees the old ciphertext with the
old version or the new ciphertext with the new version, never a mix, so reads go on during
the move.

The same pass re-fingerprints rows whose fingerprint was made under the other suite's MAC
(after a suite switch), so that the same card keeps one fingerprint. Should that collide
with another row of the same owner (two binds of one card on either side of the switch),
the row keeps its old fingerprint and a warning names both tokens.

Safe in several processes at once: on PostgreSQL a batch locks its rows with `SKIP LOCKED`,
so two workers take different rows, and each update checks the row still has the version it
read. On SQLite transactions run one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.core.cryptosuite import Mac
from payhub.db.session import Database
from payhub.db.sql import table_of
from payhub.vault import keys, service
from payhub.vault.crypto import VaultIntegrityError
from payhub.vault.models import DataKey, VaultBankAccount, VaultCard

log = logging.getLogger("payhub.vault")

BATCH = 200


@dataclass(frozen=True, slots=True)
class _Kind:
    """What differs between cards and bank accounts."""

    table: Table
    secret: str  # the field of the sealed JSON that holds the number
    fingerprint: Callable[[dict[str, Any], str, Mac], str]
    matches: Callable[[dict[str, Any], str], bool]  # the number agrees with the clear columns


CARDS = _Kind(
    table_of(VaultCard),
    "pan",
    lambda row, number, mac: service.card_fingerprint(number, mac),
    lambda row, number: (number[:6], number[-4:]) == (row["first6"], row["last4"]),
)
BANK_ACCOUNTS = _Kind(
    table_of(VaultBankAccount),
    "account_number",
    lambda row, number, mac: service.bank_account_fingerprint(row["bank_code"], number, mac),
    lambda row, number: number[-4:] == row["last4"],
)
KINDS = (CARDS, BANK_ACCOUNTS)


@dataclass(slots=True)
class Batch:
    scanned: int = 0  # rows looked at (the cursor moves past them)
    moved: int = 0  # rows now under the active key
    refingerprinted: int = 0
    # Rows that need an operator: they did not decrypt (left as they were), or were moved but
    # keep their old fingerprint (a duplicate across a suite switch).
    failed: int = 0
    last_token: str = ""


@dataclass(slots=True)
class Totals:
    moved: int = 0
    refingerprinted: int = 0
    failed: int = 0
    batches: int = 0


async def _retiring_versions(session: AsyncSession) -> list[int]:
    query = select(DataKey.version).where(DataKey.state == keys.RETIRING)
    return list((await session.execute(query)).scalars())


def _behind(kind: _Kind, retiring: list[int], mac: Mac) -> Any:
    """Rows that need the pass: under a retiring key, or fingerprinted with another MAC.
    (Retired and destroyed keys have no rows.) Both columns are indexed."""
    others = [m.value for m in Mac if m is not mac]
    return or_(kind.table.c.key_version.in_(retiring), kind.table.c.fingerprint_alg.in_(others))


async def pending(session: AsyncSession) -> int:
    """How many rows the pass still has to visit."""
    retiring, mac = await _retiring_versions(session), service.suite_mac()
    total = 0
    for kind in KINDS:
        query = select(func.count()).select_from(kind.table).where(_behind(kind, retiring, mac))
        total += int((await session.execute(query)).scalar_one())
    return total


async def _move(
    session: AsyncSession, kind: _Kind, row: dict[str, Any], values: dict[str, Any]
) -> bool:
    """Update one row unless someone moved it first."""
    t = kind.table
    done = await session.execute(
        update(t)
        .where(t.c.token == row["token"], t.c.key_version == row["key_version"])
        .values(**values)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def batch(session: AsyncSession, kind: _Kind, *, after: str, limit: int = BATCH) -> Batch:
    """Move up to `limit` rows of one kind with tokens after `after`, in the caller's
    transaction."""
    mac = service.suite_mac()
    retiring = await _retiring_versions(session)
    t = kind.table
    query = (
        select(t)
        .where(_behind(kind, retiring, mac), t.c.token > after)
        .order_by(t.c.token)
        .limit(limit)
        .with_for_update(skip_locked=True, of=t)
    )
    rows = [dict(r) for r in (await session.execute(query)).mappings()]
    result = Batch(scanned=len(rows), last_token=rows[-1]["token"] if rows else after)
    if not rows:
        return result
    target = await keys.active_data_key(session)
    old_keys: dict[int, keys.UnwrappedKey] = {}
    from_versions: set[int] = set()
    for row in rows:
        version = row["key_version"]
        try:
            if version not in old_keys:
                old_keys[version] = await keys.data_key(session, version)
            number = service.open_row(old_keys[version], row["token"], row["ciphertext"])[
                kind.secret
            ]
            if not kind.matches(row, number):
                raise VaultIntegrityError(f"the decrypted number of {row['token']} is not its own")
        except VaultIntegrityError as exc:
            log.warning("vault row not re-encrypted: %s", exc, extra={"token": row["token"]})
            result.failed += 1
            continue
        values: dict[str, Any] = {"key_version": target.version}
        values["ciphertext"] = service.seal(target, row["token"], {kind.secret: number})
        if row["fingerprint_alg"] == mac.value:
            moved = await _move(session, kind, row, values)
        else:
            new_fingerprint = kind.fingerprint(row, number, mac)
            moved, renamed = await _refingerprint(session, kind, row, values, new_fingerprint, mac)
            result.refingerprinted += 1 if renamed else 0
            result.failed += 1 if moved and not renamed else 0
        if moved:
            result.moved += 1
            from_versions.add(version)
    if result.moved:
        await audit.record(
            session,
            "vault.reencrypted",
            target_type="data_key",
            target_id=str(target.version),
            details={
                "table": t.name,
                "rows": result.moved,
                "refingerprinted": result.refingerprinted,
                "from_versions": sorted(from_versions),
                "to_version": target.version,
            },
        )
    return result


async def _refingerprint(
    session: AsyncSession,
    kind: _Kind,
    row: dict[str, Any],
    values: dict[str, Any],
    fingerprint: str,
    mac: Mac,
) -> tuple[bool, bool]:
    """Move the row and give it the suite's fingerprint: (moved, re-fingerprinted). When the
    new fingerprint collides with another row of the same owner (one card bound on either
    side of a suite switch), the row is moved but keeps its old fingerprint, and each pass
    warns about it until an operator removes the duplicate."""
    renamed = {**values, "fingerprint": fingerprint, "fingerprint_alg": mac.value}
    try:
        async with session.begin_nested():
            moved = await _move(session, kind, row, renamed)
        return moved, moved
    except IntegrityError:
        log.warning(
            "vault row keeps its old fingerprint: another row of its owner has the new one",
            extra={"token": row["token"]},
        )
    return await _move(session, kind, row, values), False


async def run(
    db: Database,
    *,
    limit: int = BATCH,
    max_batches: int | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> Totals:
    """Visit every row behind the active key or the suite's MAC once, a transaction per
    batch; stop early after `max_batches`. Rows that fail stay as they were (and are
    counted); a later run tries them again."""
    totals = Totals()
    for kind in KINDS:
        after = ""
        while max_batches is None or totals.batches < max_batches:
            work = partial(batch, kind=kind, after=after, limit=limit)
            done = await db.run_in_transaction(work)
            if not done.scanned:
                break
            totals.batches += 1
            totals.moved += done.moved
            totals.refingerprinted += done.refingerprinted
            totals.failed += done.failed
            after = done.last_token
            if on_batch is not None:
                on_batch(done)
    return totals
