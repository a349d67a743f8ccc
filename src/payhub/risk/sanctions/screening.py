"""Screening names against the watch lists in force, and recording every screening.

Each process keeps the lists' index in memory, keyed by the versions it was built from:
a screen costs one small query (which versions are current) while the lists stay as they
are; after a load, the first screen in each process rebuilds the index.

A screening of a customer, merchant or payee that finds potential matches raises hits for
compliance (`sanctions_hits`). Screening never refuses anything by itself: onboarding goes
on, and what to do with a hit is compliance's decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.core import clock
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.core.ids import new_id
from payhub.db.sql import Row, Sql, as_sql, table_of
from payhub.risk.sanctions.lists import WatchEntry
from payhub.risk.sanctions.matching import Hit, WatchIndex
from payhub.risk.sanctions.models import (
    HIT_PREFIX,
    SCREENING_PREFIX,
    SanctionsEntry,
    SanctionsHit,
    SanctionsScreening,
)
from payhub.risk.sanctions.names import plain
from payhub.risk.sanctions.registry import current_versions

SubjectType = Literal["customer", "merchant", "payee"]
Reason = Literal["onboarding", "rescreen", "api", "payout"]
# A name screened on its own (the API's ad-hoc screen): recorded, raises no hits.
AD_HOC = "name"

_ENTRIES = table_of(SanctionsEntry)
_SCREENINGS = table_of(SanctionsScreening)
_HITS = table_of(SanctionsHit)
_ALL_ENTRIES = select(_ENTRIES)
_INSERT_SCREENING = insert(_SCREENINGS)
_HIT_BY_FINGERPRINT = select(_HITS.c.id, _HITS.c.status).where(
    _HITS.c.fingerprint == bindparam("fingerprint")
)
_INSERT_HIT = {
    "postgresql": pg_insert(_HITS).on_conflict_do_nothing(index_elements=["fingerprint"]),
    "sqlite": sqlite_insert(_HITS).on_conflict_do_nothing(index_elements=["fingerprint"]),
}


@dataclass(frozen=True, slots=True)
class HitSummary:
    """One potential match of a screening."""

    list_name: str
    entry_id: str
    entry_name: str
    matched_name: str
    screened_name: str
    score: float
    entry: dict[str, Any]
    hit_id: str | None = None  # the compliance record; None for an ad-hoc screen
    status: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "hit": self.hit_id,
            "status": self.status,
            "list": self.list_name,
            "entry_id": self.entry_id,
            "entry_name": self.entry_name,
            "matched_name": self.matched_name,
            "screened_name": self.screened_name,
            "score": self.score,
            "entry": self.entry,
        }

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> HitSummary:
        return cls(
            list_name=data["list"],
            entry_id=data["entry_id"],
            entry_name=data["entry_name"],
            matched_name=data["matched_name"],
            screened_name=data["screened_name"],
            score=data["score"],
            entry=data["entry"],
            hit_id=data.get("hit"),
            status=data.get("status"),
        )


@dataclass(frozen=True, slots=True)
class ScreeningView:
    id: str
    subject_type: str
    subject_id: str | None
    names: list[str]
    reason: str
    screened_at: datetime
    list_versions: list[str]
    threshold: float
    outcome: str
    hits: list[HitSummary] = field(default_factory=list)

    @classmethod
    def of(cls, row: Row) -> ScreeningView:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k != "hits"}
        return cls(**fields, hits=[HitSummary.of_json(h) for h in row["hits"]])


# ------------------------------------------------------------------------ the index cache

_cached: tuple[frozenset[str], WatchIndex] | None = None


def _watch_entry(row: Row) -> WatchEntry:
    return WatchEntry(
        list_name=row["list_name"],
        entry_id=row["entry_id"],
        name=row["name"],
        aliases=tuple(row["aliases"]),
        entry_type=row["entry_type"],
        countries=tuple(row["countries"]),
        birth_dates=tuple(row["birth_dates"]),
        program=row["program"],
    )


async def watch_index(tx: AsyncSession | Sql) -> tuple[list[str], WatchIndex]:
    """The current list versions and their index (built once per process per set of
    versions)."""
    global _cached
    sql = await as_sql(tx)
    versions = frozenset((await current_versions(sql)).values())
    if _cached is not None and _cached[0] == versions:
        return sorted(versions), _cached[1]
    rows = await sql.all(_ALL_ENTRIES)
    # Keyed by the versions the entries carry: a load committed between the two reads
    # cannot leave an index labelled with versions it does not hold.
    built = frozenset(row["version_id"] for row in rows)
    index = WatchIndex([_watch_entry(r) for r in rows])
    _cached = (built, index)
    return sorted(built), index


def forget_index() -> None:
    """Drop this process's index (tests that load lists into fresh databases)."""
    global _cached
    _cached = None


def threshold_or_default(threshold: float | None) -> float:
    chosen = get_settings().sanctions_match_threshold if threshold is None else threshold
    if not 50 <= chosen <= 100:
        raise PayHubError("validation_error", param="threshold", detail="between 50 and 100")
    return float(chosen)


def match_names(
    index: WatchIndex,
    names: list[str],
    *,
    threshold: float,
    birth_date: str | None = None,
    country: str | None = None,
    entry_type: str | None = None,
) -> list[Hit]:
    """The best hit per entry over all of a subject's names, best first."""
    best: dict[tuple[str, str], Hit] = {}
    for name in names:
        for hit in index.screen(
            name,
            threshold=threshold,
            birth_date=birth_date,
            country=country,
            entry_type=entry_type,
        ):
            key = (hit.entry.list_name, hit.entry.entry_id)
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.entry.list_name, h.entry.entry_id))


def _fingerprint(subject_type: str, subject_id: str, hit: Hit) -> str:
    """Same subject, same name, same listed entry (as listed): the same hit."""
    digest = hashlib.sha256()
    snapshot = repr(sorted(hit.entry.snapshot().items()))
    for part in (subject_type, subject_id, plain(hit.screened_name), snapshot):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


async def _raise_hit(
    sql: Sql, screening_id: str, subject_type: str, subject_id: str, hit: Hit
) -> HitSummary:
    fingerprint = _fingerprint(subject_type, subject_id, hit)
    dialect = "postgresql" if sql.is_postgres else "sqlite"
    await sql.run(
        _INSERT_HIT[dialect],
        id=new_id(HIT_PREFIX),
        screening_id=screening_id,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_name=hit.screened_name[:500],
        list_name=hit.entry.list_name,
        entry_id=hit.entry.entry_id,
        entry=hit.entry.snapshot(),
        matched_name=hit.matched_name[:500],
        score=hit.score,
        fingerprint=fingerprint,
        status="open",
        created_at=clock.now(),
        decided_at=None,
        decided_by=None,
        reason=None,
    )
    row = await sql.one(_HIT_BY_FINGERPRINT, fingerprint=fingerprint)
    assert row is not None
    return _summary(hit, hit_id=row["id"], status=row["status"])


def _summary(hit: Hit, *, hit_id: str | None = None, status: str | None = None) -> HitSummary:
    return HitSummary(
        list_name=hit.entry.list_name,
        entry_id=hit.entry.entry_id,
        entry_name=hit.entry.name,
        matched_name=hit.matched_name,
        screened_name=hit.screened_name,
        score=hit.score,
        entry=hit.entry.snapshot(),
        hit_id=hit_id,
        status=status,
    )


async def screen_subject(
    tx: AsyncSession | Sql,
    *,
    subject_type: SubjectType,
    subject_id: str,
    names: list[str],
    reason: Reason,
    birth_date: str | None = None,
    country: str | None = None,
    threshold: float | None = None,
) -> ScreeningView:
    """Screen a party's names (a merchant's name and legal name; a customer's name) and
    record it; each potential match raises a hit for compliance unless the same subject,
    name and entry raised one before (then the screening points at that one)."""
    return await _screen(
        tx,
        subject_type=subject_type,
        subject_id=subject_id,
        names=names,
        reason=reason,
        birth_date=birth_date,
        country=country,
        threshold=threshold,
    )


async def screen_name(
    tx: AsyncSession | Sql,
    name: str,
    *,
    subject_id: str,
    subject_type: SubjectType = "payee",
    reason: Reason = "payout",
    birth_date: str | None = None,
    country: str | None = None,
    threshold: float | None = None,
) -> ScreeningView:
    """Screen one name of a party (a payout's beneficiary) and record it, as
    `screen_subject`."""
    return await screen_subject(
        tx,
        subject_type=subject_type,
        subject_id=subject_id,
        names=[name],
        reason=reason,
        birth_date=birth_date,
        country=country,
        threshold=threshold,
    )


async def screen_ad_hoc(
    tx: AsyncSession | Sql,
    name: str,
    *,
    birth_date: str | None = None,
    country: str | None = None,
    entry_type: str | None = None,
    threshold: float | None = None,
) -> ScreeningView:
    """Screen a name that belongs to no party yet: recorded, with its hits, but raising no
    hits for compliance to decide (there is no one to clear or confirm)."""
    return await _screen(
        tx,
        subject_type=AD_HOC,
        subject_id=None,
        names=[name],
        reason="api",
        birth_date=birth_date,
        country=country,
        entry_type=entry_type,
        threshold=threshold,
    )


async def _screen(
    tx: AsyncSession | Sql,
    *,
    subject_type: str,
    subject_id: str | None,
    names: list[str],
    reason: str,
    birth_date: str | None = None,
    country: str | None = None,
    entry_type: str | None = None,
    threshold: float | None = None,
) -> ScreeningView:
    sql = await as_sql(tx)
    chosen = threshold_or_default(threshold)
    screened = [n for n in dict.fromkeys(n.strip() for n in names) if n]
    versions, index = await watch_index(sql)
    found = match_names(
        index,
        screened,
        threshold=chosen,
        birth_date=birth_date,
        country=country,
        entry_type=entry_type,
    )
    screening_id = new_id(SCREENING_PREFIX)
    if subject_id is None:
        hits = [_summary(h) for h in found]
    else:
        hits = [await _raise_hit(sql, screening_id, subject_type, subject_id, h) for h in found]
    row: Row = {
        "id": screening_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "names": screened,
        "reason": reason,
        "screened_at": clock.now(),
        "list_versions": versions,
        "threshold": chosen,
        "outcome": "potential_match" if hits else "clear",
        "hits": [h.as_json() for h in hits],
    }
    await sql.defer(_INSERT_SCREENING, **row)
    return ScreeningView.of(row)
