"""Wire types shared by every module's API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

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


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, so typos do not pass silently; and values
    are taken as the JSON type the schema says, never coerced (`true` is not the number 1,
    `0` is not `false`, a number is not a timestamp)."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
