"""Tables of numbered versions of which at most one is active (operator rule sets).

Every change writes the next version; activating one deactivates the others; the version
numbers are taken by `max + 1`, so two publishers racing for the same number meet the
primary key and the loser's transaction is retried. The tables hold `version`, `active`,
`note`, `created_by` and `created_at` plus their own content column(s); a partial unique
index on `active` keeps "at most one" true in the database as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.errors import PayHubError
from payhub.db.session import RetryTransaction

Row = TypeVar("Row")

NOTE_MAX = 200


def check_note(note: str | None) -> None:
    if note is not None and len(note) > NOTE_MAX:
        raise PayHubError("validation_error", param="note", detail=f"at most {NOTE_MAX} characters")


@dataclass(frozen=True, slots=True)
class VersionedTable(Generic[Row]):
    """One table of versions: `model` is its mapped class, `name` says what it holds (in a
    retry's reason) and `not_found` is the catalogue code for a version that does not
    exist. Callers write the audit record: what is worth recording differs per table."""

    model: type[Row]
    name: str
    not_found: str
    created_by_max: int

    async def active(self, session: AsyncSession) -> Row | None:
        model: Any = self.model
        return (
            await session.execute(select(model).where(model.active.is_(True)))
        ).scalar_one_or_none()

    async def newest_first(self, session: AsyncSession) -> Sequence[Row]:
        model: Any = self.model
        return (await session.execute(select(model).order_by(model.version.desc()))).scalars().all()

    async def get(self, session: AsyncSession, version: int, *, lock: bool = False) -> Row:
        row = await session.get(self.model, version, with_for_update=lock)
        if row is None:
            raise PayHubError(self.not_found, version=version)
        return row

    async def deactivate_all(self, session: AsyncSession) -> None:
        model: Any = self.model
        await session.execute(update(model).where(model.active.is_(True)).values(active=False))
        await session.flush()

    async def publish(
        self,
        session: AsyncSession,
        content: dict[str, Any],
        *,
        created_by: str,
        note: str | None,
        activate: bool,
    ) -> Row:
        """Write `content` (the model's own columns) as the next version; active at once
        unless `activate` is False (then it waits, staged, until activated)."""
        check_note(note)
        model: Any = self.model
        latest = (await session.execute(select(func.max(model.version)))).scalar_one()
        if activate:
            await self.deactivate_all(session)
        row = model(
            version=(latest or 0) + 1,
            note=note,
            created_by=created_by[: self.created_by_max],
            active=activate,
            created_at=clock.now(),
            **content,
        )
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:
            # Another publisher took this version number first: start again after it.
            raise RetryTransaction(f"{self.name} version taken") from None
        return row  # type: ignore[no-any-return]

    async def activate(self, session: AsyncSession, version: int) -> tuple[Row, bool]:
        """Make an existing version the active one (a staged version going live, or a
        rollback). Also says whether anything changed: activating the active one does not."""
        row: Any = await self.get(session, version, lock=True)
        if row.active:
            return row, False
        await self.deactivate_all(session)
        row.active = True
        await session.flush()
        return row, True
