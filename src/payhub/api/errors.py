"""Every failure leaves the API as the catalogue's JSON error shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError
from starlette.exceptions import HTTPException as StarletteHTTPException

from payhub.core.errors import PayHubError, language_from_header
from payhub.core.logging import request_id_var

log = logging.getLogger("payhub.api")

# Body fields whose validation failures have their own catalogue codes.
_FIELD_CODES = {"amount": "amount_invalid", "currency": "currency_invalid"}


def error_response(
    request: Request, error: PayHubError, headers: dict[str, str] | None = None
) -> JSONResponse:
    language = language_from_header(request.headers.get("accept-language"))
    body = error.to_body(request_id=request_id_var.get(), language=language)
    all_headers = {"Content-Language": "zh-CN" if language == "zh" else "en", **(headers or {})}
    return JSONResponse(body, status_code=error.status, headers=all_headers)


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def validation_to_error(exc: RequestValidationError) -> PayHubError:
    errors = exc.errors()
    if not errors:
        return PayHubError("validation_error", detail="invalid request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return PayHubError("malformed_json")
    loc = tuple(first.get("loc", ()))
    param = _param(loc)
    field = loc[-1] if loc else None
    if isinstance(field, str) and field in _FIELD_CODES:
        if _FIELD_CODES[field] == "currency_invalid":
            return PayHubError("currency_invalid", param=param, currency="(not a code)")
        return PayHubError(_FIELD_CODES[field], param=param)
    if loc == ("body",) and first.get("type") == "missing":
        return PayHubError("validation_error", detail="a JSON body is required")
    # The message names the rule broken; it never repeats the value sent.
    message = str(first.get("msg", "invalid value"))
    return PayHubError("validation_error", param=param, detail=f"{param or 'body'}: {message}")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PayHubError)
    async def _payhub(request: Request, exc: PayHubError) -> JSONResponse:
        return error_response(request, exc, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, validation_to_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        method, path = request.method, request.url.path
        if exc.status_code == 404:
            return error_response(request, PayHubError("route_not_found", method=method, path=path))
        if exc.status_code == 405:
            # Keep Starlette's Allow header: RFC 9110 requires it on a 405.
            allow = (
                {"Allow": exc.headers["Allow"]} if exc.headers and "Allow" in exc.headers else {}
            )
            refusal = PayHubError("method_not_allowed", method=method, path=path)
            return error_response(request, refusal, allow)
        if exc.status_code == 400:
            # FastAPI's own refusal of a body it cannot parse (bytes that are not UTF-8, a
            # form it cannot read): the client's fault, not ours.
            return error_response(request, PayHubError("malformed_json"))
        log.warning("unmapped HTTP error", extra={"status": exc.status_code})
        return error_response(request, PayHubError("internal_error"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, InterfaceError | OSError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            log.error("database unavailable", exc_info=exc)
            return error_response(request, PayHubError("service_unavailable"))
        log.error("unhandled error", exc_info=exc)
        return error_response(request, PayHubError("internal_error"))
