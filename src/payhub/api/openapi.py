"""The OpenAPI document as the API really answers.

FastAPI documents a `422` validation error in its own shape on every operation, which
PayHub never sends (validation failures are `400` catalogue errors), and none of the
catalogue's other answers. This replaces that with the statuses the catalogue can answer
on each operation, all in the one error shape, so clients generated from the document and
the schema-driven fuzzing in the test suite see what the API actually does.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from payhub.core.errors import CATALOGUE, ErrorType


class CatalogueError(BaseModel):
    code: str = Field(description="Stable catalogue code, e.g. `payment_not_found`.")
    type: ErrorType
    message: str
    param: str | None
    retryable: bool
    request_id: str | None


class CatalogueErrorBody(BaseModel):
    error: CatalogueError


# Any operation: a bad request, no usable key, a key without the scope, an unknown object,
# an idempotency conflict, a body over the limit, a rate limit, and the server's own failures.
_EVERYWHERE = (400, 401, 403, 404, 409, 413, 429, 500, 503)
# Operations that move money or call a bank channel: a refusal (402) and a channel's failure.
_MONEY = (402, 502, 504)
_MONEY_PATHS = (
    "/v1/payments", "/v1/refunds", "/v1/ledger", "/v1/payment_methods",
    "/v1/payees", "/v1/payouts", "/v1/split_batches",
)  # fmt: skip
# Served to anyone, outside the catalogue's routes.
_PUBLIC = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


def _statuses(path: str) -> tuple[int, ...]:
    if path == "/healthz":
        return (503,)
    if path.startswith(_MONEY_PATHS):
        return _EVERYWHERE + _MONEY
    return _EVERYWHERE


def _described(status: int) -> str:
    codes = sorted(code for code, spec in CATALOGUE.items() if spec.status == status)
    return "A catalogue error: " + ", ".join(f"`{c}`" for c in codes)


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` document the catalogue's error answers (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        # What FastAPI's own `openapi()` passes, so only the responses differ.
        schema = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        body = CatalogueErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in {**body.pop("$defs", {}), "CatalogueErrorBody": body}.items():
            # A module's model of the same name would be silently replaced.
            assert name not in components, f"{name} is already a schema of the API"
            components[name] = definition
        # FastAPI's own validation-error shapes are never sent.
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/CatalogueErrorBody"}
        error = {"application/json": {"schema": ref}}
        for path, operations in schema.get("paths", {}).items():
            if path in _PUBLIC:
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status in _statuses(path):
                    responses.setdefault(
                        str(status), {"description": _described(status), "content": error}
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
