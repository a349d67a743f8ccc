"""Wire types shared by every module's API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from payhub.core.clock import parse_rfc3339, to_rfc3339
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id


def _parse_timestamp(value: object) -> object:
    if isinstance(value, str):
        return parse_rfc3339(value)
    return value


# RFC 3339 with an explicit zone on input; always UTC with 'Z' on output.
Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_timestamp),
    PlainSerializer(to_rfc3339, return_type=str),
]

T = TypeVar("T")


def storable_text(value: str) -> bool:
    """False for text a database cannot hold: a NUL character (PostgreSQL refuses it in
    text) or half of a UTF-16 surrogate pair (JSON's `\\ud800` escapes, which no UTF-8
    encoder takes)."""
    return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if not storable_text(value):
            raise ValueError("text may not hold NUL characters or unpaired surrogates")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, so typos do not pass silently; values
    are taken as the JSON type the schema says, never coerced (`true` is not the number 1,
    `0` is not `false`, a number is not a timestamp); and no text holds what a database
    cannot store (it answered 500 on PostgreSQL)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        _check_text(value)
        return value


class ListResponse(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


Limit = Annotated[int, Field(ge=1, le=100, description="Page size (1-100).")]


def cursor(value: str | None, prefix: str, param: str = "starting_after") -> str | None:
    """A pagination cursor must be an id of the listed kind."""
    if value is not None and not is_id(value, prefix):
        raise PayHubError("invalid_id", param=param)
    return value
