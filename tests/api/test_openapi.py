"""The OpenAPI document says what the API really answers (found by fuzzing it)."""

from __future__ import annotations

import httpx

from payhub.core.errors import CATALOGUE

PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz"}


async def test_every_operation_documents_the_catalogue_errors(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    # FastAPI's 422 shape is never sent: validation failures are 400 catalogue errors.
    assert "HTTPValidationError" not in schemas
    error = schemas["CatalogueErrorBody"]
    assert error["required"] == ["error"]
    detail = schemas["CatalogueError"]
    assert set(detail["required"]) == {
        "code",
        "type",
        "message",
        "param",
        "retryable",
        "request_id",
    }
    # A module's own model named like the catalogue's is not replaced (the ledger's
    # per-journal error in a batch has no request id).
    assert "request_id" not in schemas["ErrorDetail"]["properties"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, f"{method} {path}"
            if path in PUBLIC:
                continue
            for status in ("400", "401", "403", "404", "429", "500"):
                content = responses[status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/CatalogueErrorBody"}
    confirm = document["paths"]["/v1/payments/{payment_id}/confirm"]["post"]["responses"]
    assert {"402", "502", "504"} <= set(confirm)
    statuses = {spec.status for spec in CATALOGUE.values()} - {405}
    documented = {
        int(s) for ops in document["paths"].values() for o in ops.values() for s in o["responses"]
    }
    assert statuses <= documented
