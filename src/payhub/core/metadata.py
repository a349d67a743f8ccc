"""Metadata: the free-form key/value strings callers attach to objects, with the same limits
everywhere."""

from __future__ import annotations

from typing import Any

from payhub.core.errors import PayHubError

MAX_METADATA_KEYS = 50


def validate_metadata(metadata: dict[str, Any]) -> None:
    if not isinstance(metadata, dict):
        raise PayHubError("validation_error", param="metadata", detail="an object of strings")
    if len(metadata) > MAX_METADATA_KEYS:
        raise PayHubError(
            "validation_error", param="metadata", detail=f"at most {MAX_METADATA_KEYS} keys"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 40:
            raise PayHubError("validation_error", param="metadata", detail="keys are 1-40 chars")
        if not isinstance(value, str) or len(value) > 500:
            raise PayHubError(
                "validation_error", param=f"metadata.{key}", detail="values are strings ≤ 500 chars"
            )
