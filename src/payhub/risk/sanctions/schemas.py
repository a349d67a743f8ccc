"""API shapes of sanctions screening."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from payhub.api.schemas import StrictModel, Timestamp
from payhub.risk.sanctions.hits import HitView
from payhub.risk.sanctions.registry import ListVersionView
from payhub.risk.sanctions.screening import HitSummary, ScreeningView

BirthDate = Field(
    default=None,
    pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$",
    description="YYYY, YYYY-MM or YYYY-MM-DD.",
)
Country = Field(default=None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, e.g. CN.")


class ListIn(StrictModel):
    list: str = Field(min_length=1, max_length=64, examples=["un_consolidated"])
    format: Literal["csv", "ftm"] = Field(
        description="`csv` (columns list, id, name, aliases, type, country, birth_date, "
        "program) or `ftm` (FollowTheMoney JSON lines, as OpenSanctions exports them)."
    )
    content: str = Field(min_length=1, description="The file's text.")


class ListVersionOut(BaseModel):
    object: Literal["sanctions_list_version"] = "sanctions_list_version"
    id: str
    list: str
    format: str
    entries: int
    checksum: str
    loaded_at: Timestamp
    loaded_by: str
    rescreened_at: Timestamp | None
    current: bool
    created: bool | None = Field(
        default=None, description="On a load: false when the list was already this version."
    )

    @classmethod
    def of(cls, view: ListVersionView, created: bool | None = None) -> ListVersionOut:
        return cls(
            id=view.id,
            list=view.list_name,
            format=view.format,
            entries=view.entries,
            checksum=view.checksum,
            loaded_at=view.loaded_at,
            loaded_by=view.loaded_by,
            rescreened_at=view.rescreened_at,
            current=view.current,
            created=created,
        )


class ScreenIn(StrictModel):
    name: str = Field(min_length=1, max_length=500)
    birth_date: str | None = BirthDate
    country: str | None = Country
    type: Literal["person", "organisation"] | None = Field(
        default=None, description="Only entries of this type."
    )
    threshold: float | None = Field(
        default=None, ge=50, le=100, description="Default: the deployment's setting."
    )


class ScreeningHitOut(BaseModel):
    hit: str | None = Field(description="The compliance record; null for an ad-hoc screen.")
    status: str | None
    list: str
    entry_id: str
    entry_name: str
    matched_name: str
    screened_name: str
    score: float
    entry: dict[str, Any]

    @classmethod
    def of(cls, summary: HitSummary) -> ScreeningHitOut:
        return cls.model_validate(summary.as_json())


class ScreeningOut(BaseModel):
    object: Literal["sanctions_screening"] = "sanctions_screening"
    id: str
    subject_type: str
    subject: str | None
    names: list[str]
    reason: str
    screened_at: Timestamp
    list_versions: list[str]
    threshold: float
    outcome: str
    hits: list[ScreeningHitOut]

    @classmethod
    def of(cls, view: ScreeningView) -> ScreeningOut:
        return cls(
            id=view.id,
            subject_type=view.subject_type,
            subject=view.subject_id,
            names=view.names,
            reason=view.reason,
            screened_at=view.screened_at,
            list_versions=view.list_versions,
            threshold=view.threshold,
            outcome=view.outcome,
            hits=[ScreeningHitOut.of(h) for h in view.hits],
        )


class DecisionIn(StrictModel):
    reason: str = Field(min_length=1, max_length=500)


class HitOut(BaseModel):
    object: Literal["sanctions_hit"] = "sanctions_hit"
    id: str
    screening: str
    subject_type: str
    subject: str
    subject_name: str
    list: str
    entry_id: str
    entry: dict[str, Any]
    matched_name: str
    score: float
    status: str
    created_at: Timestamp
    decided_at: Timestamp | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def of(cls, view: HitView) -> HitOut:
        return cls(
            id=view.id,
            screening=view.screening_id,
            subject_type=view.subject_type,
            subject=view.subject_id,
            subject_name=view.subject_name,
            list=view.list_name,
            entry_id=view.entry_id,
            entry=view.entry,
            matched_name=view.matched_name,
            score=view.score,
            status=view.status,
            created_at=view.created_at,
            decided_at=view.decided_at,
            decided_by=view.decided_by,
            reason=view.reason,
        )
